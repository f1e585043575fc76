"""Wishes: adding them, and reading them for exports and /metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Municipality,
    Wish,
    utcnow,
)
from storage.prebuilt import Prebuilt
from storage.queries.common import unused_reference
from storage.queries.loaded import as_loaded
from storage.queries.places import municipality_by_id

# What a new wish holds besides what it is given: as the model's defaults (version 1: the
# first of its optimistic lock, storage/models.py, as the ORM counts it).
_NEW: dict[str, Any] = {
    "status": "accepted",
    "answered_at": None,
    "answer": None,
    "status_at": None,
    "hidden": False,
    "duplicate_of": None,
    "version": 1,
    "followup_at": None,
    "followup": None,
    "latitude": None,
    "longitude": None,
    "media_public": False,
    "assigned_to": None,
}
_COLUMNS = [column for column in Wish.__table__.columns if column.key != "id"]
_ADD = Prebuilt(
    insert(Wish)
    .values({column.key: bindparam(column.key, type_=column.type) for column in _COLUMNS})
    .returning(Wish.id)
)


async def add_wish(
    session: AsyncSession,
    *,
    kind: str,
    category: str,
    text: str,
    municipality_id: int | None,
    channel: str,
    person_id: int | None,
    campaign_id: int | None = None,
    entered_by: int | None = None,
) -> Wish:
    """A new wish under a reference number not used before: one prebuilt INSERT, its object
    made from the values (storage/queries/loaded.py) — the ORM's flush of it cost more than
    the rest of the action's SQL."""
    values: dict[str, Any] = {
        **_NEW,
        "reference": await unused_reference(session, Wish),
        "kind": kind,
        "category": category,
        "text": text,
        "municipality_id": municipality_id,
        "campaign_id": campaign_id,
        "person_id": person_id,
        "channel": channel,
        "entered_by": entered_by,
        "created_at": utcnow(),
    }
    wish_id = (await _ADD.run(session, **values)).scalar()
    place = await municipality_by_id(session, municipality_id) if municipality_id else None
    return as_loaded(session, Wish, {"id": wish_id, **values}, municipality=place)


async def wishes_for_export(
    session: AsyncSession, municipality: Municipality | None = None
) -> Sequence[Wish]:
    query = select(Wish).options(selectinload(Wish.campaign)).order_by(Wish.created_at, Wish.id)
    if municipality is not None:
        query = query.where(Wish.municipality_id == municipality.id)
    return (await session.scalars(query)).all()


async def count_wishes_by_kind(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Wish.kind, func.count(Wish.id)).group_by(Wish.kind))
    return {kind: int(count) for kind, count in rows.all()}
