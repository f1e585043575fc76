"""Checks shared by the handlers."""

from __future__ import annotations

import re

from handlers.types import Text

# C0 and C1 control characters except tab and newline, the Unicode non-characters that some
# phones send, and half a character (a surrogate alone: a gateway's JSON may escape one,
# "\\ud800", which no UTF-8 and no JSON written back can hold): PostgreSQL refuses NUL in
# text, and none of them means anything here.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


# Kyrgyz letters as phones without them type them (ң ө ү as н о у), ё as е, and Latin letters
# with dots without them: how two spellings of one word are compared.
_PLAIN = str.maketrans({"ң": "н", "ө": "о", "ү": "у", "ё": "е", "ä": "a", "ö": "o", "ü": "u"})


def fold(text: str) -> str:
    """Lower case, in plain letters: a word as typed compared with one as written."""
    return text.casefold().translate(_PLAIN)


def clean(text: str) -> str:
    """A resident's text as we keep it: control characters taken out, \\r\\n made \\n."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def check_text(text: str, limit: int) -> tuple[str, Text | None]:
    """The text without surrounding space, and what is wrong with it if anything."""
    cleaned = text.strip()
    if not cleaned:
        return cleaned, Text("error.empty_text")
    if len(cleaned) > limit:
        return cleaned, Text("error.too_long", {"limit": limit, "length": len(cleaned)})
    return cleaned, None


def small_number(text: str, digits: int = 9) -> int | None:
    """A whole number of at most `digits` ASCII digits, or None. ("²" and "٣" are digits
    to str.isdigit; a 20-digit code would overflow the database's integers.)"""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= digits):
        return None
    return int(text)


def script_language(text: str) -> str | None:
    """A guess from the letters alone: Kyrgyz letters mean Kyrgyz, Latin only means English."""
    if set(text.upper()) & set("ӨҮҢ"):
        return "ky"
    letters = [char for char in text if char.isalpha()]
    if letters and all(char.isascii() for char in letters):
        return "en"
    return None


def written_language(text: str) -> str | None:
    """The language to answer a message with no keyword in: the script's guess, and other
    Cyrillic taken for Russian (quotes keep it open: Kyrgyz typed without its letters)."""
    script = script_language(text)
    if script is not None:
        return script
    return "ru" if any("\u0400" <= char <= "\u04ff" for char in text) else None
