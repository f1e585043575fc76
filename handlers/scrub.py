"""Taking out of free text what could identify a person: phone numbers, PIN-like digit runs,
e-mail addresses and @usernames."""

from __future__ import annotations

import re

MASK = "***"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@])@\w{4,}")
# Seven or more digits, possibly split by spaces, dashes or brackets, possibly with +. (Not
# dots: 12.03.2025 is a date, and worth keeping.)
_DIGIT_RUN = re.compile(r"\+?\(?\d(?:[\s\-()]*\d){6,}\)?")


def scrub(text: str) -> str:
    text = _EMAIL.sub(MASK, text)
    text = _HANDLE.sub(MASK, text)
    return _DIGIT_RUN.sub(MASK, text)
