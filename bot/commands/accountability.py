"""`civicbot export accountability`: answers on time, each municipality's (or one's) figures
over the last 4 and 12 weeks, a row per period (bot/reports/accountability.py: the same
figures the public pages show). Counts only: nothing in it names anyone."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.admin import municipality_named, today_in
from bot.reports import accountability as report
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from storage import queries

COLUMNS = report.COLUMNS


async def rows(settings: Settings, municipality_key: str | None) -> list[Sequence[object]]:
    """Every municipality by region and key, or the one named; each 4 weeks, then 12."""
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = await municipality_named(session, municipality_key)
            places = (
                [municipality]
                if municipality is not None
                else sorted(
                    await queries.all_municipalities(session),
                    key=lambda m: (m.region.position, m.key),
                )
            )
            figures = await report.read(
                session,
                [municipality.id] if municipality is not None else None,
                today_in(settings),
                settings.timezone,
                settings.appeal_answer_days,
            )
            return list(report.rows(figures, places))
    finally:
        await db.close()
