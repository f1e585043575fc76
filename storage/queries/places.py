"""Regions, their districts, and municipalities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import (
    District,
    Municipality,
    Person,
    Region,
    Wish,
)
from storage.prebuilt import Prebuilt, Ran
from storage.queries.loaded import as_loaded, held, keep, row_of


async def regions_with_municipalities(session: AsyncSession) -> Sequence[Region]:
    has_municipality = exists().where(Municipality.region_id == Region.id)
    return (
        await session.scalars(select(Region).where(has_municipality).order_by(Region.position))
    ).all()


async def region_by_key(session: AsyncSession, key: str) -> Region | None:
    return await session.scalar(select(Region).where(Region.key == key))


async def municipalities_in(session: AsyncSession, region: Region) -> Sequence[Municipality]:
    return (
        await session.scalars(
            select(Municipality)
            .where(Municipality.region_id == region.id)
            .order_by(Municipality.code)
        )
    ).all()


async def region_choices(
    session: AsyncSession, region: Region
) -> tuple[Sequence[Municipality], Sequence[District]]:
    """What a region offers to choose from: the municipalities in no district (its cities of
    regional significance), then the districts that have a municipality to choose."""
    loose = await session.scalars(
        select(Municipality)
        .where(Municipality.region_id == region.id, Municipality.district_id.is_(None))
        .order_by(Municipality.code)
    )
    has_municipality = exists().where(Municipality.district_id == District.id)
    districts = await session.scalars(
        select(District)
        .where(District.region_id == region.id, has_municipality)
        .order_by(District.position)
    )
    return loose.all(), districts.all()


async def all_districts(session: AsyncSession) -> Sequence[District]:
    return (await session.scalars(select(District).order_by(District.position))).all()


async def district_by_key(session: AsyncSession, key: str) -> District | None:
    return await session.scalar(select(District).where(District.key == key))


async def municipalities_in_district(
    session: AsyncSession, district: District
) -> Sequence[Municipality]:
    return (
        await session.scalars(
            select(Municipality)
            .where(Municipality.district_id == district.id)
            .order_by(Municipality.code)
        )
    ).all()


# A place and its region in one statement on the fast path: every action of a placed
# resident reads it (storage/queries/loaded.py), joined to the person where it can be
# (storage/queries/people.py).
PLACE_COLUMNS = (*Municipality.__table__.columns, *Region.__table__.columns)
_PLACE_WIDTH = len(Municipality.__table__.columns)


def _place_where(condition: ColumnElement[bool]) -> Prebuilt:
    return Prebuilt(
        select(*PLACE_COLUMNS).join(Region, Region.id == Municipality.region_id).where(condition)
    )


_PLACE = _place_where(Municipality.id == bindparam("id"))
# By what a resident types: the place itself at once, not its id and then the place (one
# round trip fewer where each action has a session of its own: PostgreSQL).
_PLACE_BY_KEY = _place_where(Municipality.key == bindparam("key"))
_PLACE_BY_CODE = _place_where(Municipality.code == bindparam("code"))


async def municipality_by_id(session: AsyncSession, municipality_id: int) -> Municipality | None:
    """The place with its region, as `session.get` would give it."""
    place = held(session, Municipality, municipality_id)
    if place is not None:
        return place
    return _place_in(session, await _PLACE.run(session, id=municipality_id))


def _place_in(session: AsyncSession, ran: Ran) -> Municipality | None:
    return place_of_row(session, ran.rows[0]) if ran.rows else None


def place_of_row(session: AsyncSession, values: Sequence[Any]) -> Municipality:
    """The place of a row of PLACE_COLUMNS read just now: the session's object if it holds
    one, else one made from the row."""
    place = held(session, Municipality, values[0])
    if place is not None:
        return place
    region_row = row_of(Region, values[_PLACE_WIDTH:])
    region = held(session, Region, region_row["id"]) or as_loaded(session, Region, region_row)
    place_row = row_of(Municipality, values[:_PLACE_WIDTH])
    place = as_loaded(session, Municipality, place_row, region=region)
    keep(session, place)  # the next sender of the batch is most likely from it too
    return place


async def municipality_by_key(session: AsyncSession, key: str) -> Municipality | None:
    return _place_in(session, await _PLACE_BY_KEY.run(session, key=key.lower()))


async def municipality_by_key_or_code(session: AsyncSession, value: str) -> Municipality | None:
    """What a resident types for a place: its key (naryn_city) or its short code (101)."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        if len(value) > 9:  # beyond any code, and beyond the database's integers
            return None
        return _place_in(session, await _PLACE_BY_CODE.run(session, code=int(value)))
    return await municipality_by_key(session, value)


# On the fast path: SQLAlchemy's ORM-enabled UPDATE spends several times the statement's
# cost finding which objects in the session it touches; `attach_unplaced_wishes` does that
# itself, for the few a session can hold.
_ATTACH_UNPLACED = Prebuilt(
    update(Wish)
    .where(Wish.person_id == bindparam("who"), Wish.municipality_id.is_(None))
    .values(municipality_id=bindparam("place"))
)


async def attach_unplaced_wishes(
    session: AsyncSession, person: Person, municipality: Municipality
) -> None:
    """Wishes sent before the resident named their place go to the place they name (also
    those the session holds: a wish an earlier action of the same batch wrote)."""
    await session.flush()  # a wish still pending is written first, and so moved too
    await _ATTACH_UNPLACED.run(session, who=person.id, place=municipality.id)
    for held_object in list(session.identity_map.values()):
        if not isinstance(held_object, Wish):
            continue
        state = inspect(held_object)  # read without loading anything; a column never
        # given reads None, one expired would be read again from the row
        if (
            state.dict.get("person_id") == person.id
            and state.dict.get("municipality_id") is None
            and "municipality_id" not in state.expired_attributes
        ):
            set_committed_value(held_object, "municipality_id", municipality.id)


async def all_municipalities(session: AsyncSession) -> Sequence[Municipality]:
    return (await session.scalars(select(Municipality).order_by(Municipality.code))).all()
