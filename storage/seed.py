"""Seed regions, districts and municipalities: the starter set of domain.yaml and the shipped
list of Kyrgyzstan's regions, districts, towns and ayil aimaks (storage/place_list.py).
Idempotent: only missing keys are added, and an existing municipality keeps its key and short
code even if the files' order changes; a row the data says more about (its district, its
СОАТЕ code) gets that where it had nothing. Workers starting at once take turns under the
migrations' lock, and a row that is there already is skipped (ON CONFLICT DO NOTHING), never
an error."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import hold_migration_lock
from storage.domain import FIRST_MUNICIPALITY_CODE, facts
from storage.models import District, Municipality, Region
from storage.place_list import Unit, district_key, shipped
from storage.queries.common import insert_ignore


async def seed_places(session: AsyncSession) -> int:
    """Add the regions, districts and municipalities that are not there yet; return how many
    were added."""
    await hold_migration_lock(session)
    added = await _seed_regions(session)
    regions = await _ids(session, Region)
    added += await _seed_districts(session, regions)
    districts = await _ids(session, District)
    added += await _seed_municipalities(session, regions, districts)
    return added


async def _ids(session: AsyncSession, model: type[Region] | type[District]) -> dict[str, int]:
    return {key: id_ for key, id_ in (await session.execute(select(model.key, model.id))).all()}


async def _seed_regions(session: AsyncSession) -> int:
    codes = {unit.key: unit.soate for unit in shipped("region")}
    wanted = [
        {"key": entry["key"], **_names(entry), "soate": codes.get(entry["key"])}
        for entry in facts()["regions"]
    ]
    named = {row["key"] for row in wanted}
    wanted += [
        {"key": unit.key, **unit.names(), "soate": unit.soate}
        for unit in shipped("region")
        if unit.key not in named
    ]
    found = {k: v for k, v in (await session.execute(select(Region.key, Region.soate))).all()}
    await _fill_codes(session, Region, found, codes)
    return await insert_ignore(
        session,
        Region,
        [
            {**row, "position": position}
            for position, row in enumerate(wanted)
            if row["key"] not in found
        ],
    )


async def _seed_districts(session: AsyncSession, regions: dict[str, int]) -> int:
    known = set((await session.scalars(select(District.key))).all())
    return await insert_ignore(
        session,
        District,
        [
            {
                "key": unit.key,
                "region_id": regions[str(unit.region)],
                "position": position,
                "soate": unit.soate,
                **unit.names(),
            }
            for position, unit in enumerate(shipped("district"))
            if unit.key not in known
        ],
    )


async def _seed_municipalities(
    session: AsyncSession, regions: dict[str, int], districts: dict[str, int]
) -> int:
    """The journal's starter set first (its short codes came first), then the shipped towns and
    ayil aimaks; a starter place that the file lists too keeps the journal's names."""
    towns = {unit.key: unit for unit in shipped("town") + shipped("aimak")}
    wanted: list[dict[str, Any]] = []
    for entry in facts()["municipalities"]:
        town = towns.pop(entry["key"], None)
        district = district_key(entry["district"]) if entry.get("district") else None
        wanted.append(
            {
                "key": entry["key"],
                "region_id": regions[entry["region"]],
                "district": entry.get("district"),
                "district_id": districts.get(district or (town.district if town else None) or ""),
                "soate": town.soate if town else None,
                **_names(entry),
            }
        )
    wanted += [_town_row(unit, regions, districts) for unit in towns.values()]

    found = (
        await session.execute(
            select(Municipality.key, Municipality.district_id, Municipality.soate)
        )
    ).all()
    existing = {key for key, _, _ in found}
    await _fill_districts(session, {key: district for key, district, _ in found}, wanted)
    await _fill_codes(
        session,
        Municipality,
        {key: soate for key, _, soate in found},
        {row["key"]: row["soate"] for row in wanted},
    )
    highest = await session.scalar(select(func.max(Municipality.code)))
    first_code = max(highest or 0, FIRST_MUNICIPALITY_CODE - 1) + 1
    missing = [row for row in wanted if row["key"] not in existing]
    return await insert_ignore(
        session,
        Municipality,
        [{**row, "code": code} for code, row in enumerate(missing, start=first_code)],
    )


def _town_row(unit: Unit, regions: dict[str, int], districts: dict[str, int]) -> dict[str, Any]:
    return {
        "key": unit.key,
        "region_id": regions[str(unit.region)],
        "district": None,
        "district_id": districts.get(unit.district or ""),
        "soate": unit.soate,
        **unit.names(),
    }


async def _fill_districts(
    session: AsyncSession, found: dict[str, int | None], wanted: list[dict[str, Any]]
) -> None:
    """A municipality seeded before districts existed gets the district the data names."""
    for row in wanted:
        if row["key"] in found and found[row["key"]] is None and row["district_id"] is not None:
            await session.execute(
                update(Municipality)
                .where(Municipality.key == row["key"], Municipality.district_id.is_(None))
                .values(district_id=row["district_id"])
            )


async def _fill_codes(
    session: AsyncSession,
    model: type[Region] | type[Municipality],
    found: dict[str, str | None],
    codes: dict[str, str | None],
) -> None:
    for key, soate in codes.items():
        if soate and key in found and found[key] is None:
            await session.execute(
                update(model).where(model.key == key, model.soate.is_(None)).values(soate=soate)
            )


def _names(entry: dict[str, str]) -> dict[str, str]:
    return {"name_ky": entry["ky"], "name_ru": entry["ru"], "name_en": entry["en"]}
