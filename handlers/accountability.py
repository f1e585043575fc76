"""The accountability figures (issue 30): per municipality, over the last 4 and 12 weeks —
appeals and wishes answered, the share answered within the legal period, the median working
days to answer — and what is overdue now. Counts only, never anyone.

The legal period is APPEAL_ANSWER_DAYS working days (handlers/working_days.py): for an
appeal from its registration to `due_on` (which an extension moves), for a wish to change
the same number from the day it arrived. An item counts in a period's share when it was
first answered with a final status (storage.domain.FINAL_STATUSES) in the period, or when
its period ran out in it unanswered (docs/decisions.md): a municipality that does not answer
is not flattered by answering nothing. A wish made an appeal counts as the wish before the
day it was appealed, as the appeal from then on. Weeks are ISO weeks in TIMEZONE, as the
digest counts them, the last one the week under way (or the digest's week).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from functools import lru_cache
from statistics import median
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.weeks import Week
from handlers.working_days import add_working_days, working_days_between
from storage.queries import accountability as clocks

PERIODS = (4, 12)  # weeks
# The national ranking lists a municipality only with at least this many items counted in
# the period: below it one late answer swings the share by more than 10 points.
MIN_ITEMS = 10


@lru_cache(maxsize=4096)
def _due(start: date, days: int) -> date:
    return add_working_days(start, days)


@lru_cache(maxsize=65536)
def _took(start: date, end: date) -> int:
    return working_days_between(start, end)


def latest_start(due_before: date, days: int) -> date:
    """The last day a wish may arrive and still fall due before `due_before`: the due date
    never goes back as the arrival moves forward, so the days before it all do too."""
    day = due_before - timedelta(days=1)
    while _due(day, days) >= due_before:
        day -= timedelta(days=1)
    return day


@dataclass(frozen=True)
class Span:
    """The days figures are counted over: [first, end), `end` at most tomorrow."""

    weeks: int
    first: date
    end: date


@dataclass
class Figures:
    """One period's figures for one municipality (or the whole country)."""

    appeals_answered: int = 0
    wishes_answered: int = 0
    counted: int = 0  # answered in the period, or fallen due in it unanswered
    in_time: int = 0  # of those, answered by the due date
    days: list[int] = field(default_factory=list, repr=False)  # working days each answer took

    @property
    def answered(self) -> int:
        return self.appeals_answered + self.wishes_answered

    @property
    def ratio(self) -> Fraction | None:
        """The exact share answered in time (what the ranking sorts on); None: none counted."""
        return Fraction(self.in_time, self.counted) if self.counted else None

    @property
    def share(self) -> int | None:
        """Per cent answered in time as shown: rounded down, so never 100 when one was late,
        and at least 1 when one was in time (never 0 then); None when nothing counted."""
        if not self.counted:
            return None
        down = self.in_time * 100 // self.counted
        return max(down, 1) if self.in_time else down

    @property
    def median(self) -> float | None:
        return float(median(self.days)) if self.days else None

    def add(
        self,
        start: date,
        due: date,
        answered: date | None,
        span: Span,
        today: date,
        appeal: bool,
        until: date | None = None,
    ) -> None:
        """One item (arrived on `start`), if it counts in the span; a wish made an appeal
        on `until` counts only for what happened before that day (then the appeal does)."""
        first, end = span.first, span.end if until is None else min(span.end, until)
        if answered is not None and first <= answered < end:
            self.appeals_answered += appeal
            self.wishes_answered += not appeal
            self.days.append(_took(start, answered))
            self.counted += 1
            self.in_time += answered <= due
        elif first <= due < min(end, today) and (answered is None or answered >= end):
            self.counted += 1  # its period ran out in this one, unanswered


@dataclass
class Accountability:
    """A municipality's figures by period (weeks), and what is overdue today (for a past
    week's figures: at its end)."""

    periods: dict[int, Figures]
    overdue_appeals: int = 0
    overdue_wishes: int = 0

    @property
    def overdue(self) -> int:
        return self.overdue_appeals + self.overdue_wishes


def spans(last: Week, today: date) -> dict[int, Span]:
    """The last 4 and 12 ISO weeks ending with `last` (the week under way: up to today)."""
    end = min(last.sunday, today) + timedelta(days=1)
    return {weeks: Span(weeks, last.monday - timedelta(weeks=weeks - 1), end) for weeks in PERIODS}


async def figures(
    session: AsyncSession,
    municipality_ids: Sequence[int] | None,
    last: Week,
    today: date,
    timezone: str,
    days: int,
) -> dict[int, Accountability]:
    """Every municipality's figures (those asked for; None: all) in four queries, by id. A
    municipality with nothing counted has no entry: `of` gives it empty figures."""
    zone = ZoneInfo(timezone)
    periods = spans(last, today)
    widest = periods[max(PERIODS)]

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), zone)

    wishes = await clocks.wish_clocks(
        session,
        municipality_ids,
        midnight(widest.first),
        midnight(widest.end),
        midnight(latest_start(widest.first, days) + timedelta(days=1)),
        midnight(latest_start(widest.end, days) + timedelta(days=1)),
    )
    appeals = await clocks.appeal_clocks(session, municipality_ids, widest.first, widest.end)
    # A past week's figures show what was overdue at its end, as its digest said then.
    as_of = min(today, last.sunday)
    overdue = await clocks.overdue_counts(
        session,
        municipality_ids,
        as_of,
        midnight(as_of + timedelta(days=1)),
        midnight(latest_start(as_of, days) + timedelta(days=1)),
    )
    found: dict[int, Accountability] = {}

    def entry(place: int) -> Accountability:
        if place not in found:  # (not setdefault: an empty one made per row costs a third)
            found[place] = empty()
        return found[place]

    for wish in wishes:
        start = wish.created_at.astimezone(zone).date()
        answered = wish.answered_at.astimezone(zone).date() if wish.answered_at else None
        for weeks, span in periods.items():
            entry(wish.municipality_id).periods[weeks].add(
                start, _due(start, days), answered, span, today, False, wish.appealed_on
            )
    for appeal in appeals:
        for weeks, span in periods.items():
            entry(appeal.municipality_id).periods[weeks].add(
                appeal.registered_on, appeal.due_on, appeal.answered_on, span, today, appeal=True
            )
    for place, (late_appeals, late_wishes) in overdue.items():
        entry(place).overdue_appeals, entry(place).overdue_wishes = late_appeals, late_wishes
    return found


def empty() -> Accountability:
    return Accountability({weeks: Figures() for weeks in PERIODS})


def of(found: dict[int, Accountability], municipality_id: int) -> Accountability:
    return found.get(municipality_id) or empty()


def national(found: Iterable[Accountability]) -> Accountability:
    """The whole country as one: every item counted once (its median is every answer's)."""
    total = empty()
    for place in found:
        for weeks, shown in place.periods.items():
            into = total.periods[weeks]
            into.appeals_answered += shown.appeals_answered
            into.wishes_answered += shown.wishes_answered
            into.counted += shown.counted
            into.in_time += shown.in_time
            into.days += shown.days
        total.overdue_appeals += place.overdue_appeals
        total.overdue_wishes += place.overdue_wishes
    return total


def ranked(found: dict[int, Accountability], weeks: int) -> list[tuple[int, Figures]]:
    """(municipality id, figures) of those with at least MIN_ITEMS counted in the period,
    the largest share in time first (exact, not as rounded for display), then the fewest
    median days, then the id (stable)."""
    listed = [
        (place, shown.periods[weeks])
        for place, shown in found.items()
        if shown.periods[weeks].counted >= MIN_ITEMS
    ]
    return sorted(listed, key=lambda item: (-(item[1].ratio or 0), _days(item[1]), item[0]))


def _days(shown: Figures) -> float:
    """The median for ordering: none answered at all ranks after any that answered."""
    return shown.median if shown.median is not None else float("inf")
