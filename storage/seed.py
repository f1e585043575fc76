"""Seed regions and municipalities from domain.yaml. Idempotent: only missing keys are added,
and an existing municipality keeps its short code even if the file order changes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import FIRST_MUNICIPALITY_CODE, facts
from storage.models import Municipality, Region


async def seed_places(session: AsyncSession) -> int:
    """Add the regions and municipalities that are not there yet; return how many were added."""
    added = 0
    regions = {r.key: r for r in (await session.scalars(select(Region))).all()}
    for position, entry in enumerate(facts()["regions"]):
        if entry["key"] not in regions:
            region = Region(
                key=entry["key"],
                position=position,
                name_ky=entry["ky"],
                name_ru=entry["ru"],
                name_en=entry["en"],
            )
            session.add(region)
            regions[region.key] = region
            added += 1
    await session.flush()

    existing = set((await session.scalars(select(Municipality.key))).all())
    highest = await session.scalar(select(func.max(Municipality.code)))
    next_code = max(highest or 0, FIRST_MUNICIPALITY_CODE - 1) + 1
    for entry in facts()["municipalities"]:
        if entry["key"] in existing:
            continue
        session.add(
            Municipality(
                key=entry["key"],
                code=next_code,
                region_id=regions[entry["region"]].id,
                district=entry.get("district"),
                name_ky=entry["ky"],
                name_ru=entry["ru"],
                name_en=entry["en"],
            )
        )
        next_code += 1
        added += 1
    await session.flush()
    return added
