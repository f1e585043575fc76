"""Wishes: adding them, and reading them for exports and /metrics."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Municipality,
    Wish,
)
from storage.queries.common import add_referenced


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
    wish = Wish(
        kind=kind,
        category=category,
        text=text,
        municipality_id=municipality_id,
        campaign_id=campaign_id,
        entered_by=entered_by,
        channel=channel,
        person_id=person_id,
    )
    return await add_referenced(session, wish)


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
