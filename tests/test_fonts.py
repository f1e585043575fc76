"""The shipped font draws every letter the bot writes: a letter missing from the subset would
be drawn as an empty box in the digest's chart."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po
from PIL import Image, ImageDraw, ImageFont

from bot.reports.fonts import font
from bot.runtime.i18n import LOCALES_DIR
from storage.domain import LANGUAGES, facts


def catalogue_texts() -> list[str]:
    texts = []
    for language in LANGUAGES:
        with (LOCALES_DIR / language / "LC_MESSAGES" / "civicbot.po").open("rb") as handle:
            texts += [str(message.string) for message in read_po(handle) if message.id]
    return texts


def domain_texts(node: object) -> list[str]:
    """Every string in domain.yaml: names of places, categories, services."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in domain_texts(value)]
    if isinstance(node, list):
        return [text for value in node for text in domain_texts(value)]
    return []


def drawn(face: ImageFont.FreeTypeFont, letter: str) -> bytes:
    picture = Image.new("L", (40, 40))
    ImageDraw.Draw(picture).text((4, 4), letter, fill=255, font=face)
    return picture.tobytes()


def drawn_as_box(face: ImageFont.FreeTypeFont, letter: str) -> bool:
    return drawn(face, letter) == drawn(face, "\U0001f600")  # an emoji: not in the subset


@pytest.mark.parametrize("bold", [False, True])
def test_every_letter_the_bot_writes_has_a_glyph(bold: bool) -> None:
    face = font(14, bold)
    letters = {
        letter
        for text in [*catalogue_texts(), *domain_texts(facts())]
        for letter in text
        # Emoji and dingbats (U+2600 on) only ever go to messengers, which draw them.
        if letter.isprintable() and not letter.isspace() and ord(letter) < 0x2600
    }
    assert {"ө", "ү", "ң"} <= letters  # the texts were read
    letters |= set("ӨҮҢ")  # a resident's name or a place may start with them
    assert sorted(letter for letter in letters if drawn_as_box(face, letter)) == []
    assert drawn_as_box(face, "\u4e00")  # the check can fail: a CJK letter is not there
