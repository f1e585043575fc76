"""The accountability figures (handlers/accountability.py) as every output shows them: read
for a day (the whole country's kept a little while: `read_all`), as JSON (the statistics
JSON, `/accountability.json`), as export rows, and the median in a reader's words. Counts
only: never a text, a name or a person."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import accountability
from handlers.accountability import Accountability, Figures, Span
from handlers.weeks import Week
from storage.models import Municipality, utcnow

COLUMNS = (
    "municipality",
    "region",
    "weeks",
    "from",
    "to",
    "appeals_answered",
    "wishes_answered",
    "counted",
    "answered_in_time",
    "share_in_time",
    "median_working_days",
    "overdue_appeals",
    "overdue_wishes",
    "answer_days",
)


@dataclass(frozen=True)
class Read:
    """Figures read on one day: the spans they cover and each municipality's, by id."""

    spans: dict[int, Span]
    found: dict[int, Accountability]
    answer_days: int
    read_at: datetime  # when they were read (UTC): what `generated_at` says

    def of(self, municipality_id: int) -> Accountability:
        return accountability.of(self.found, municipality_id)

    def national(self) -> Accountability:
        return accountability.national(self.found.values())


async def read(
    session: AsyncSession,
    municipality_ids: Sequence[int] | None,
    today: date,
    timezone: str,
    answer_days: int,
    last: Week | None = None,
) -> Read:
    """The figures of the weeks up to `last` (default: this week, so far)."""
    last = last or Week.of(today)
    found = await accountability.figures(
        session, municipality_ids, last, today, timezone, answer_days
    )
    return Read(accountability.spans(last, today), found, answer_days, utcnow())


Key = tuple[str, str, date, str, int, float]
_kept: dict[Key, tuple[float, Read]] = {}
# One reading per key at a time: requests arriving together when the kept one runs out wait
# for the one reading, not each read the whole country (docs/decisions.md).
_reading: dict[Key, asyncio.Lock] = {}


async def read_all(
    session: AsyncSession,
    today: date,
    timezone: str,
    answer_days: int,
    kept_seconds: float,
    last: Week | None = None,
) -> Read:
    """Every municipality's figures, read again only when the last reading of the same
    database, weeks, day and setting is older than `kept_seconds`: the national page and a
    digest run (one reading for hundreds of digests) need the whole country, about a second
    of work for 100,000 wishes."""
    last = last or Week.of(today)
    url = str(session.get_bind().engine.url)
    key = (url, str(last), today, timezone, answer_days, kept_seconds)
    lock = _reading.setdefault(key, asyncio.Lock())
    async with lock:
        now = time.monotonic()
        for old in [k for k, (at, _) in _kept.items() if now - at >= k[-1]]:
            del _kept[old]
            if old != key and not _reading[old].locked():
                del _reading[old]
        if key in _kept:
            return _kept[key][1]
        figures = await read(session, None, today, timezone, answer_days, last)
        _kept[key] = (time.monotonic(), figures)
        return figures


def period_json(span: Span, shown: Figures) -> dict[str, Any]:
    return {
        "weeks": span.weeks,
        "from": span.first.isoformat(),
        "to": (span.end - timedelta(days=1)).isoformat(),
        "appeals_answered": shown.appeals_answered,
        "wishes_answered": shown.wishes_answered,
        "counted": shown.counted,
        "answered_in_time": shown.in_time,
        "share_in_time": shown.share,
        "median_working_days": shown.median,
    }


def as_json(figures: Read, place: Accountability) -> dict[str, Any]:
    """One municipality's (or the country's) figures, as the statistics JSON gives them."""
    return {
        "answer_days": figures.answer_days,
        "periods": [
            period_json(span, place.periods[weeks]) for weeks, span in figures.spans.items()
        ],
        "overdue_now": {"appeals": place.overdue_appeals, "wishes": place.overdue_wishes},
    }


def rows(figures: Read, places: Iterable[Municipality]) -> Iterable[Sequence[object]]:
    """Rows of COLUMNS: each municipality once per period."""
    for place in places:
        shown = figures.of(place.id)
        for weeks, span in figures.spans.items():
            period = period_json(span, shown.periods[weeks])
            yield (
                place.key,
                place.region.key,
                weeks,
                period["from"],
                period["to"],
                period["appeals_answered"],
                period["wishes_answered"],
                period["counted"],
                period["answered_in_time"],
                "" if period["share_in_time"] is None else period["share_in_time"],
                "" if period["median_working_days"] is None else period["median_working_days"],
                shown.overdue_appeals,
                shown.overdue_wishes,
                figures.answer_days,
            )


def days_text(median: float | None, language: str) -> str:
    """3, 3.5 (3,5 in Kyrgyz and Russian); a dash when nothing was answered."""
    if median is None:
        return "—"
    text = f"{median:g}"
    return text.replace(".", ",") if language in ("ky", "ru") else text


def share_text(share: int | None) -> str:
    return "—" if share is None else f"{share}%"
