"""Taking out of free text what could identify a person: phone numbers in every way they are
written in Kyrgyzstan, PIN-like and other long digit runs, passport numbers, e-mail
addresses, @usernames and links to a messenger or a social network profile.

What stays: dates (12.05.2026, 2026-05-12), years, amounts in som (even 150 000 000 сом),
reference numbers (seven digits), house numbers — short numbers in general. A phone number
has nine digits after the country code (+996 555 42 42 42, 0555.42.42.42, 0(555)42-42-42,
0312 62 12 34), so a run of nine digits or more is masked, whatever separates its groups.
"""

from __future__ import annotations

import re

MASK = "***"

_NETWORKS = (
    r"t\.me|telegram\.(?:me|dog)|wa\.me|(?:api|chat)\.whatsapp\.com|instagram\.com|instagr\.am"
    r"|vk\.(?:com|me)|facebook\.com|fb\.(?:com|me)|m\.me|ok\.ru|tiktok\.com|twitter\.com|x\.com"
    r"|youtube\.com|threads\.net|linkedin\.com"
)
_REST = r"(?:\S*[^\s.,;:!?)\]»\"'])?"  # the rest of a link, not the sentence's punctuation
# A profile or chat link: the site with a path (the site alone names no one), or an app's link.
_LINK = re.compile(
    rf"(?<![\w.@/-])(?:https?://)?(?:www\.|m\.|mobile\.)?(?:{_NETWORKS})/{_REST}"
    rf"|\b(?:tg|viber|whatsapp)://{_REST}",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@])@\w{4,}")
_PASSPORT = re.compile(r"\b(?:ID|AN|AC|ИД|АН)\s?\d{7}\b")  # the series and seven digits
# A run of digits joined by what people put between a phone number's groups: spaces, dots,
# dashes, brackets (up to three such characters in a row: "0 (555) 42-42-42").
_RUN = re.compile(r"\+?\(?\d(?:[ \t\u00a0\u202f.\-()]{0,3}\d)*\)?")
# A date: 12.05.2026 or 12.05.26, or 2026-05-12 — a real day and month (0555-42-42 is not
# one), not inside a longer run of dotted groups (555.12.05.20 is a phone number).
_DAY, _MONTH = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(
    rf"(?<![\d.])(?:{_DAY}\.{_MONTH}\.(?:(?:19|20)\d\d|\d\d)"
    rf"|(?:19|20)\d\d-{_MONTH}-{_DAY})(?!\.?\d)"
)
_THOUSANDS = re.compile(r"\d{1,3}(?:[ \u00a0\u202f.]\d{3})+")
_CURRENCY = re.compile(r"\s?(?:сом|som|kgs|\$|usd|доллар|руб|rub|тенге)", re.IGNORECASE)
_EDGES = " \t\u00a0\u202f.-"
PHONE_DIGITS = 9  # a Kyrgyz number without its country code or trunk 0


def scrub(text: str) -> str:
    text = _LINK.sub(MASK, text)
    text = _EMAIL.sub(MASK, text)
    text = _HANDLE.sub(MASK, text)
    text = _PASSPORT.sub(MASK, text)
    return _RUN.sub(_masked_run, text)


def _masked_run(match: re.Match[str]) -> str:
    run = match.group()
    if _THOUSANDS.fullmatch(run) and _CURRENCY.match(match.string, match.end()):
        return run  # an amount, 150 000 000 сом
    # Dates inside the run are kept; what lies between them is judged on its own.
    pieces = _DATE.split(run)
    dates = _DATE.findall(run)
    kept = [_masked_piece(pieces[0])]
    for date, piece in zip(dates, pieces[1:], strict=True):
        kept += [date, _masked_piece(piece)]
    return "".join(kept)


def _masked_piece(piece: str) -> str:
    core = piece.strip(_EDGES)
    if sum(c.isdigit() for c in core) < PHONE_DIGITS:
        return piece
    start = piece.index(core)
    return piece[:start] + MASK + piece[start + len(core) :]
