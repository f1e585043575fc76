"""ISO weeks (Monday–Sunday) in the deployment's TIMEZONE: the period a weekly digest covers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PATTERN = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        """2026-W47 (or 2026W47); ValueError naming the expected form otherwise."""
        match = PATTERN.match(text.strip())
        if match is None:
            raise ValueError(f"a week is written YYYY-Www, like 2026-W47, not {text!r}")
        year, number = int(match[1]), int(match[2])
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            raise ValueError(f"{year} has no week {number}") from None
        return cls(year, number)

    @classmethod
    def of(cls, day: date) -> Week:
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @classmethod
    def last_complete(cls, today: date) -> Week:
        """The latest week that has ended before `today`."""
        return cls.of(today - timedelta(days=today.isoweekday()))

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def before(self) -> Week:
        return Week.of(self.monday - timedelta(days=7))

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[start, end) of the week as aware datetimes: Monday 00:00 to the next Monday."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.monday, time(), zone)
        return start, datetime.combine(self.monday + timedelta(days=7), time(), zone)
