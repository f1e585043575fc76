"""Working days in Kyrgyzstan: not a Saturday, a Sunday or a public holiday.

The law on citizens' appeals counts its answer period in working days. Public holidays come
from the `holidays` package's Kyrgyz calendar (maintained upstream; Eid dates are estimated
there until announced). The government's occasional moved working days (a Saturday made a
working day for a long weekend) are not in it: they count as days off, which only ever gives
staff a day more, never a day less (docs/decisions.md).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    # Imported at first use: the package loads every country's calendar (about 17 MB), which
    # a process that never meets an appeal should not carry.
    import holidays

    return frozenset(holidays.country_holidays("KG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The working day `days` working days after `start` (which need not be one): an
    appeal registered on `start` and due in `days` is due on it."""
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when `end` ≤ `start`): how
    long an answer took, or how late it is."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def working_days_before(due: date, days: int) -> date:
    """The working day `days` working days before `due`: when its reminder goes."""
    day = due
    left = days
    while left > 0:
        day -= timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day
