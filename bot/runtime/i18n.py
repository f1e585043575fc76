"""The gettext catalogues (locales/{ky,ru,en}/LC_MESSAGES/civicbot.po), compiled by Babel in
memory at start, and rendering of handler replies into text.

Message ids are keys ("wish.saved"), so every language, English included, is a translation
and none is hidden in the code. A channel may have its own shorter wording of a message: the
SMS variant of "wish.saved" is "sms.wish.saved", used where it exists.

Where a number meets a noun, the entry has plural forms (msgstr[0], msgstr[1], … as the
catalogue's Plural-Forms header counts them: Kyrgyz 1, English 2, Russian 3), and its
msgid_plural names the value that chooses the form:

    msgid "announce.sent"
    msgid_plural "count"
    msgstr[0] "Отправлено: {count} житель получит его на своём канале."

The code gives such a message's values as any other's; `Catalogues.text` picks the form.
A message with two counted nouns gives one of them as a counted message of its own (a Text
value).
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from handlers.types import Label, Reply, Text
from storage.domain import LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
DOMAIN = "civicbot"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Compiled:
    """One language's catalogue: its translations, and for each message with plural forms
    the name of the value that counts (its msgid_plural)."""

    translations: gettext.GNUTranslations
    counted_by: Mapping[str, str]


def compile_catalogue(po_path: Path) -> Compiled:
    return _compiled(po_path.read_bytes())


# Compiling takes a tenth of a second per start; a process that starts several runtimes (the
# tests start hundreds) compiles each file's text once. Keyed by the text, so an edited file
# is compiled again; the translations are only read, so sharing them is safe.
@functools.lru_cache(maxsize=16)
def _compiled(po_text: bytes) -> Compiled:
    catalogue = read_po(io.BytesIO(po_text))
    counted_by = {
        str(message.id[0]): str(message.id[1])
        for message in catalogue
        if isinstance(message.id, tuple)
    }
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Compiled(gettext.GNUTranslations(buffer), counted_by)


class Catalogues:
    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        compiled = {
            language: compile_catalogue(directory / language / "LC_MESSAGES" / f"{DOMAIN}.po")
            for language in LANGUAGES
        }
        self.translations = {language: c.translations for language, c in compiled.items()}
        self.counted_by = {language: c.counted_by for language, c in compiled.items()}

    def has(self, language: str, key: str) -> bool:
        return key in self.counted_by[language] or self.translations[language].gettext(key) != key

    def text(self, language: str, message: Text, variant: str | None = None) -> str:
        template = self._template(language, message.key, variant, message.values)
        values = {
            name: self.text(language, value, variant) if isinstance(value, Text) else value
            for name, value in message.values.items()
        }
        return template.format(**values)

    def _template(
        self, language: str, key: str, variant: str | None, values: Mapping[str, Any]
    ) -> str:
        keys = (f"{variant}.{key}", key) if variant is not None else (key,)
        for candidate in keys:
            if self.has(language, candidate):
                return self._form(language, candidate, values)
        log.error("message %r has no %s translation", key, language)
        return key

    def _form(self, language: str, key: str, values: Mapping[str, Any]) -> str:
        """The message's text, in the plural form its count takes where it has forms."""
        translations = self.translations[language]
        counted = self.counted_by[language].get(key)
        if counted is None:
            return translations.gettext(key)
        return translations.ngettext(key, key, _count(values.get(counted)))

    def label(self, language: str, label: Label) -> str:
        return label if isinstance(label, str) else self.text(language, label)

    def reply(
        self, language: str, reply: Reply, variant: str | None = None, separator: str = "\n\n"
    ) -> str:
        return separator.join(self.text(language, part, variant) for part in reply.parts)


def _count(value: object) -> int:
    """The number a plural message counts: an int, or digits as the bot writes them (a
    space between thousands)."""
    if isinstance(value, int):
        return abs(value)
    digits = "".join(str(value).split())
    if digits.isdigit():
        return int(digits)
    log.error("a plural message counted %r, which is not a number", value)
    return 0
