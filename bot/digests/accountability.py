"""Answers on time in the weekly digest: the municipality's own figures over the 4 weeks
ending with the digest's week (handlers/accountability.py), beside the whole country's
median, and what is overdue: now, for the week under way; at its end, for a finished week
(said so: the figures stop there too). Counts only.

The country's figures are every municipality's; a digest run reads them for hundreds of
municipalities, so they are read once and kept ten minutes (the same week, day and
database), not once per municipality."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports import accountability as report
from bot.reports.wording import Say
from handlers.accountability import Accountability, Figures
from handlers.types import Text
from handlers.weeks import Week
from storage.models import Municipality

WEEKS = 4
KEPT_SECONDS = 600.0


@dataclass(frozen=True)
class Line:
    own: Figures
    national: Figures
    overdue_appeals: int
    overdue_wishes: int
    answer_days: int
    week_ended: bool = False  # a finished week's: overdue counted at its end, not today


async def collect(
    session: AsyncSession,
    municipality: Municipality,
    week: Week,
    timezone: str,
    today: date,
    answer_days: int,
) -> Line:
    figures = await report.read_all(session, today, timezone, answer_days, KEPT_SECONDS, week)
    own: Accountability = figures.of(municipality.id)
    return Line(
        own.periods[WEEKS],
        figures.national().periods[WEEKS],
        own.overdue_appeals,
        own.overdue_wishes,
        answer_days,
        today > week.sunday,
    )


def lines(line: Line | None, say: Say, language: str) -> list[str]:
    """The digest's lines, after a blank one: nothing when nothing was counted and nothing
    is overdue (a quiet municipality's digest stays short)."""
    if line is None or (not line.own.counted and not line.overdue_appeals + line.overdue_wishes):
        return []
    period = Text("accountability.period", {"weeks": WEEKS})
    own = line.own
    shown = [
        say(
            "accountability.digest",
            period=period,
            share=report.share_text(own.share),
            in_time=own.in_time,
            counted=own.counted,
            days=line.answer_days,
            median=report.days_text(own.median, language),
            national=report.days_text(line.national.median, language),
        )
        if own.counted
        else say("accountability.digest_nothing", period=period)
    ]
    if line.overdue_appeals or line.overdue_wishes:
        shown.append(
            say(
                "accountability.overdue_week_end" if line.week_ended else "accountability.overdue",
                appeals=line.overdue_appeals,
                wishes=line.overdue_wishes,
            )
        )
    return ["", *shown]
