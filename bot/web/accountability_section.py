"""Answers on time on a municipality's public page (`/m/KEY`): over the last 4 and 12
weeks, appeals and wishes answered, the share answered within the legal period, the median
working days to answer, and what is overdue now (handlers/accountability.py counts them).
Counts only; words from the catalogues, in the visitor's language."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports import accountability as report
from bot.reports.wording import Say
from handlers.accountability import Figures
from storage.models import Municipality


async def section_of(
    session: AsyncSession,
    place: Municipality,
    language: str,
    say: Say,
    today: date,
    timezone: str,
    answer_days: int,
) -> dict[str, Any]:
    """The template's values (templates/accountability.html)."""
    figures = await report.read(session, [place.id], today, timezone, answer_days)
    shown = figures.of(place.id)
    periods = [shown.periods[weeks] for weeks in figures.spans]

    def row(key: str, values: list[str]) -> tuple[str, list[str]]:
        return say(key, days=answer_days), values

    def in_time(shown: Figures) -> str:
        if not shown.counted:
            return "—"
        share = report.share_text(shown.share)
        return say(
            "accountability.share", share=share, in_time=shown.in_time, counted=shown.counted
        )

    return {
        "heading": [say("accountability.period", weeks=w) for w in figures.spans],
        "rows": [
            row("accountability.appeals_answered", [str(p.appeals_answered) for p in periods]),
            row("accountability.wishes_answered", [str(p.wishes_answered) for p in periods]),
            row("accountability.in_time", [in_time(p) for p in periods]),
            row("accountability.median", [report.days_text(p.median, language) for p in periods]),
        ],
        "overdue": say(
            "accountability.overdue",
            appeals=shown.overdue_appeals,
            wishes=shown.overdue_wishes,
        ),
        "note": say("accountability.note", days=answer_days),
    }
