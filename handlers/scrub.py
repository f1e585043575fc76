"""Taking out of free text what could identify a person: phone numbers in every way they are
written in Kyrgyzstan, PIN-like and other long digit runs, passport numbers, e-mail
addresses (also spelled out: name [at] mail.kg, name собака mail.kg), @usernames and links to
a messenger or a social network profile.

A phone number has nine digits after the country code (+996 555 42 42 42, 0555.42.42.42,
0(555)42-42-42, 0312 62 12 34), so a run of nine digits or more is masked, whatever separates
its groups: spaces of any width, dots, dashes of any kind, slashes, underscores, brackets,
keycaps (up to four in a row). Invisible characters are taken out of the text first (a
zero-width space or a soft hyphen inside a number hides nothing then). A number broken by a
line or written with commas (0555,42,42,42) is masked only from its own prefix (0555, 0312,
+996) and when its digits make exactly one number, so lists stay.

What stays: dates (12.05.2026, 10/12/2026, 2026-05-12), years and ranges (2020–2024, 10–15),
amounts in som (150 000 000 сом, 5 000–10 000 сом, "2024 — 50 000 сом"), reference numbers
(seven digits), house numbers and lists of them (12/3; 12, 14, 16), times (10:30), years one
per line — short numbers in general.
"""

from __future__ import annotations

import re

MASK = "***"
PHONE_DIGITS = 9  # a Kyrgyz number without its country code or trunk 0

_SPACES = " \t\u00a0\u202f" + "".join(map(chr, range(0x2000, 0x200B)))  # the typographic ones
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # hyphens, en and em dash, minus
_KEYCAP = "\ufe0e\ufe0f\u20e3"  # 5️⃣: a digit made an emoji
_SEPARATORS = _SPACES + _DASHES + "./_()" + _KEYCAP
_SEP = f"[{re.escape(_SEPARATORS)}]"
_SPACE, _DASH = f"[{re.escape(_SPACES)}]", f"[{re.escape(_DASHES)}]"
_LOOSE_SEP = f"[{re.escape(_SEPARATORS)},\r\n]"  # and commas and line breaks
_EDGES = _SPACES + _DASHES + "./_"

# Characters that show nothing: zero-width spaces and joiners, soft hyphens, direction marks
# and isolates, the byte order mark. The zero-width joiner stays only inside an emoji (👨‍👩‍👧).
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_EMOJI_SIDE = rf"[^\w\s\u200d{re.escape(_EDGES)}()]"  # an emoji or its variation selector
_LOOSE_JOINER = re.compile(rf"(?<!{_EMOJI_SIDE})\u200d|\u200d(?!{_EMOJI_SIDE})")

_NETWORKS = (
    r"t\.me|telegram\.(?:me|dog)|wa\.me|(?:api|chat)\.whatsapp\.com|instagram\.com|instagr\.am"
    r"|vk\.(?:com|me|ru)|facebook\.com|fb\.(?:com|me)|m\.me|ok\.ru|tiktok\.com|twitter\.com"
    r"|x\.com|youtube\.com|threads\.net|linkedin\.com|discord\.(?:gg|com)|discordapp\.com"
    r"|snapchat\.com|signal\.me"
)
_REST = r"(?:\S*[^\s.,;:!?)\]»\"'])?"  # the rest of a link, not the sentence's punctuation
# A profile or chat link: the site with a path (the site alone names no one), or an app's link.
_LINK = re.compile(
    rf"(?<![\w.@/-])(?:https?://)?(?:www\.|m\.|mobile\.)?(?:{_NETWORKS})/{_REST}"
    rf"|\b(?:tg|viber|whatsapp)://{_REST}",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")  # from a word's start: linear
# An address spelled out so that robots miss it: the @ as [at], (at), собака or " @ ", the
# dots perhaps as [dot] or точка. Only a Latin name from its first letter ("злая собака
# mail.kg", "в 10 @ cafe.kg" are not one), and never a bare "at": "meet at school.kg" is English.
_SPELLED_AT = r"(?:\s*[\[({<]\s*(?:at|@|собака)\s*[\])}>]\s*|\s+(?:@|собака)\s+)"
_SPELLED_DOT = r"(?:\.|\s*[\[({<]\s*(?:dot|точка)\s*[\])}>]\s*|\s+точка\s+)"
_SPELLED_EMAIL = re.compile(
    rf"(?<![\w.+-])[a-z][a-z0-9._+-]*(?:@|{_SPELLED_AT})[a-z0-9-]+(?:{_SPELLED_DOT}[a-z0-9-]+)*"
    rf"{_SPELLED_DOT}[a-z]{{2,}}\b",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w@])@\w{4,}")
_PASSPORT = re.compile(r"\b(?:ID|AN|AC|ИД|АН)\s?\d{7}\b")  # the series and seven digits
# A run of digits joined by what people put between a phone number's groups.
_RUN = re.compile(rf"\+?\(?\d(?:{_SEP}{{0,4}}\d)*(?:\)|[{_KEYCAP}]{{1,2}})?")
# A number broken by a line or written with commas, from its prefix: 0555, (0312), +996.
_LOOSE_RUN = re.compile(rf"(?<![\d+])(?:\+?996|\(?0[2-9]\d{{2,3}}\)?)(?:{_LOOSE_SEP}{{1,4}}\d+)+")
# A date: 12.05.2026 or 12.05.26, 10/12/2026, or 2026-05-12 — a real day and month
# (0555-42-42 is not one), not inside a longer run of dotted groups (555.12.05.20 is a phone).
_DAY, _MONTH = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(
    rf"(?<![\d./])(?:{_DAY}\.{_MONTH}\.(?:(?:19|20)\d\d|\d\d)|{_DAY}/{_MONTH}/(?:19|20)\d\d"
    rf"|(?:19|20)\d\d-{_MONTH}-{_DAY})(?![./]?\d)"
)
# An amount just before its currency: 150 000 сом, 5 000–10 000 сом, or the end of a run
# set off by a dash between spaces ("2024 — 50 000 сом": the year is judged on its own).
_THOUSANDS = rf"\d{{1,3}}(?:(?:{_SPACE}|\.)\d{{3}})+"
_AMOUNT = re.compile(
    rf"(?:^|{_SPACE}{_DASH}{_SPACE}+)(?P<amount>{_THOUSANDS}(?:{_SPACE}?{_DASH}{_SPACE}?{_THOUSANDS})?)$"
)
_CURRENCY = re.compile(r"\s?(?:сом|som|kgs|\$|usd|доллар|руб|rub|тенге)", re.IGNORECASE)


def scrub(text: str) -> str:
    text = _LOOSE_JOINER.sub("", _INVISIBLE.sub("", text))
    text = _LINK.sub(MASK, text)
    text = _SPELLED_EMAIL.sub(MASK, text)
    text = _EMAIL.sub(MASK, text)
    text = _HANDLE.sub(MASK, text)
    text = _PASSPORT.sub(MASK, text)
    text = _LOOSE_RUN.sub(_masked_loose_run, text)
    return _RUN.sub(_masked_run, text)


def _masked_loose_run(match: re.Match[str]) -> str:
    """The groups from the prefix up to exactly one number's digits, masked; the rest is left
    to the other runs. Without a comma or a line break it is an ordinary run."""
    run = match.group()
    if not any(c in run for c in ",\r\n"):
        return run
    wanted = PHONE_DIGITS + (3 if run.lstrip("+").startswith("996") else 1)
    digits = 0
    for group in re.finditer(r"\d+", run):
        digits += len(group.group())
        if digits == wanted:
            return MASK + run[group.end() :]
    return run


def _masked_run(match: re.Match[str]) -> str:
    run = match.group()
    amount = _AMOUNT.search(run)
    if amount and _CURRENCY.match(match.string, match.end()):
        return _masked_dates(run[: amount.start("amount")]) + amount["amount"]
    return _masked_dates(run)


def _masked_dates(run: str) -> str:
    """Dates inside the run are kept; what lies between them is judged on its own. A date
    with a two-digit year is one only when it is the whole run: beside other digits it is as
    likely a number's last groups (0555 20.11.45)."""
    kept, start = [], 0
    for date in _DATE.finditer(run):
        short_year = len(date.group().rpartition(".")[2]) == 2  # 12.05.26, not 2026-05-12
        if short_year and _digits(run) != _digits(date.group()):
            continue
        kept += [_masked_piece(run[start : date.start()]), date.group()]
        start = date.end()
    return "".join([*kept, _masked_piece(run[start:])])


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _masked_piece(piece: str) -> str:
    core = piece.strip(_EDGES)
    if _digits(core) < PHONE_DIGITS:
        return piece
    start = piece.index(core)
    return piece[:start] + MASK + piece[start + len(core) :]
