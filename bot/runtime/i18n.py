"""The gettext catalogues (locales/{ky,ru,en}/LC_MESSAGES/civicbot.po), compiled by Babel in
memory at start, and rendering of handler replies into text.

Message ids are keys ("wish.saved"), so every language, English included, is a translation
and none is hidden in the code. A channel may have its own shorter wording of a message: the
SMS variant of "wish.saved" is "sms.wish.saved", used where it exists.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from handlers.types import Label, Reply, Text
from storage.domain import LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
DOMAIN = "civicbot"

log = logging.getLogger(__name__)


def compile_catalogue(po_path: Path) -> gettext.GNUTranslations:
    return _compiled(po_path.read_bytes())


# Compiling takes a tenth of a second per start; a process that starts several runtimes (the
# tests start hundreds) compiles each file's text once. Keyed by the text, so an edited file
# is compiled again; the translations are only read, so sharing them is safe.
@functools.lru_cache(maxsize=16)
def _compiled(po_text: bytes) -> gettext.GNUTranslations:
    buffer = io.BytesIO()
    write_mo(buffer, read_po(io.BytesIO(po_text)))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Catalogues:
    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self.translations = {
            language: compile_catalogue(directory / language / "LC_MESSAGES" / f"{DOMAIN}.po")
            for language in LANGUAGES
        }

    def has(self, language: str, key: str) -> bool:
        return self.translations[language].gettext(key) != key

    def text(self, language: str, message: Text, variant: str | None = None) -> str:
        template = self._template(language, message.key, variant)
        values = {
            name: self.text(language, value, variant) if isinstance(value, Text) else value
            for name, value in message.values.items()
        }
        return template.format(**values)

    def _template(self, language: str, key: str, variant: str | None) -> str:
        translations = self.translations[language]
        if variant is not None:
            special = translations.gettext(f"{variant}.{key}")
            if special != f"{variant}.{key}":
                return special
        template = translations.gettext(key)
        if template == key:
            log.error("message %r has no %s translation", key, language)
        return template

    def label(self, language: str, label: Label) -> str:
        return label if isinstance(label, str) else self.text(language, label)

    def reply(
        self, language: str, reply: Reply, variant: str | None = None, separator: str = "\n\n"
    ) -> str:
        return separator.join(self.text(language, part, variant) for part in reply.parts)
