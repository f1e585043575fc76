"""The rules of a ballot, apart from any channel: who a voter is under a pseudonym, what
choices a poll takes, and which budget items a round funds.

A voter is a keyed hash of poll and person (handlers/pseudonyms.py): one answer per person
per poll, found again when they change it, and not linked to them by anything stored.
A paper ballot has a random key of its own: each is one more answer."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from handlers.pseudonyms import Pseudonyms
from storage.models import Poll, PollOption

VOTER = "poll-voter"
PAPER_PREFIX = "paper:"
SINGLE, PRIORITY, BUDGET = "single", "priority", "budget"
KINDS = (SINGLE, PRIORITY, BUDGET)
MIN_OPTIONS, MAX_OPTIONS = 2, 9
# ASCII digits only, and few of them: str.isdigit() and \d also take "²" or "٣", and int()
# refuses the first and any run longer than 4300 digits (a ValueError, not an answer).
_NUMBER = re.compile(r"[0-9]{1,9}")
_NUMBERS = re.compile(r"\s*[0-9]{1,9}(?:[\s,;.]+[0-9]{1,9})*[\s,;.]*")

# Why choices are refused: catalogue keys, each said with the poll's numbers.
NOT_NUMBERS = "poll.not_numbers"
OUT_OF_RANGE = "poll.out_of_range"
TOO_MANY = "poll.too_many"
REPEATED = "poll.repeated"
OVER_BUDGET = "poll.over_budget"


def voter_key(pseudonyms: Pseudonyms, poll_id: int, person_id: int) -> str:
    return pseudonyms.of(VOTER, str(poll_id), str(person_id))


def voter_keys(pseudonyms: Pseudonyms, poll_id: int, person_id: int) -> tuple[str, ...]:
    """The voter's key under every known secret key, newest first: during a rotation their
    answer may still be under a replaced one (bot/commands/rotation.py moves it)."""
    return pseudonyms.every(VOTER, str(poll_id), str(person_id))


def paper_key() -> str:
    """A paper ballot's own key: never equal to another's, never a person's."""
    return PAPER_PREFIX + secrets.token_hex(16)


def number(text: str) -> int | None:
    """A typed or pressed number ("2", "412"), or None if it is not one."""
    return int(text) if _NUMBER.fullmatch(text) else None


def parse_choices(text: str) -> tuple[int, ...] | None:
    """Numbers as people type them: "2", "2 5 7", "2,5,7"; None if it is not only numbers."""
    if not _NUMBERS.fullmatch(text):
        return None
    return tuple(int(n) for n in _NUMBER.findall(text))


def refusal(poll: Poll, options: Sequence[PollOption], choices: Sequence[int]) -> str | None:
    """Why these choices cannot be the answer (a catalogue key), or None if they can."""
    if not choices:
        return NOT_NUMBERS
    if any(not 1 <= c <= len(options) for c in choices):
        return OUT_OF_RANGE
    if len(set(choices)) != len(choices):
        return REPEATED
    if len(choices) > poll.max_choices:
        return TOO_MANY
    if poll.kind == BUDGET and spent(options, choices) > (poll.budget_total or 0):
        return OVER_BUDGET
    return None


def spent(options: Sequence[PollOption], choices: Sequence[int]) -> int:
    """The sum of the chosen budget items' costs."""
    by_position = {o.position: o.cost or 0 for o in options}
    return sum(by_position.get(c, 0) for c in choices)


def som(amount: int) -> str:
    """A sum in som as every message shows it: thousands apart, "12 500"."""
    return f"{amount:,}".replace(",", " ")


def funded(options: Sequence[PollOption], votes: Mapping[int, int], total: int) -> list[int]:
    """The items a budget round funds, as CONSUL and Decidim count them: by votes, most
    first, each added while it still fits what is left (one that does not is passed over
    and the next tried). Ties go to the cheaper item, then the lower number. Items with no
    vote are not funded."""
    ranked = sorted(
        (o for o in options if votes.get(o.position, 0) > 0),
        key=lambda o: (-votes.get(o.position, 0), o.cost or 0, o.position),
    )
    left, chosen = total, []
    for option in ranked:
        if (option.cost or 0) <= left:
            chosen.append(option.position)
            left -= option.cost or 0
    return sorted(chosen)


def last_day(poll: Poll, zone: str) -> date:
    """The last day answers are taken, in TIMEZONE: `closes_at` is the start of the day
    after it (a poll closing "on the 20th" closes at midnight starting the 21st)."""
    return (poll.closes_at - timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).date()
