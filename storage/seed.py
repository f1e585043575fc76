"""Seed regions and municipalities from domain.yaml. Idempotent: only missing keys are added,
and an existing municipality keeps its short code even if the file order changes. Workers
starting at once take turns under the migrations' lock, and a row that is there already is
skipped (ON CONFLICT DO NOTHING), never an error."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import hold_migration_lock
from storage.domain import FIRST_MUNICIPALITY_CODE, facts
from storage.models import Municipality, Region
from storage.queries.common import insert_ignore


async def seed_places(session: AsyncSession) -> int:
    """Add the regions and municipalities that are not there yet; return how many were added."""
    await hold_migration_lock(session)
    known = set((await session.scalars(select(Region.key))).all())
    added = await insert_ignore(
        session,
        Region,
        [
            {"key": entry["key"], "position": position, **_names(entry)}
            for position, entry in enumerate(facts()["regions"])
            if entry["key"] not in known
        ],
    )
    found = await session.execute(select(Region.key, Region.id))
    regions = {key: region_id for key, region_id in found.all()}

    existing = set((await session.scalars(select(Municipality.key))).all())
    highest = await session.scalar(select(func.max(Municipality.code)))
    first_code = max(highest or 0, FIRST_MUNICIPALITY_CODE - 1) + 1
    missing = [entry for entry in facts()["municipalities"] if entry["key"] not in existing]
    added += await insert_ignore(
        session,
        Municipality,
        [
            {
                "key": entry["key"],
                "code": code,
                "region_id": regions[entry["region"]],
                "district": entry.get("district"),
                **_names(entry),
            }
            for code, entry in enumerate(missing, start=first_code)
        ],
    )
    return added


def _names(entry: dict[str, str]) -> dict[str, str]:
    return {"name_ky": entry["ky"], "name_ru": entry["ru"], "name_en": entry["en"]}
