"""What anyone may read (Open311, the statistics JSON): wishes to change as service
requests, and counts. Never a person, never a bribe report's row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Wish


@dataclass(frozen=True)
class RequestFilter:
    municipality_ids: Sequence[int] | None = None  # None: every municipality
    categories: Sequence[str] | None = None
    statuses: Sequence[str] | None = None  # the wishes' own statuses
    references: Sequence[str] | None = None
    start: datetime | None = None
    end: datetime | None = None


def _where(chosen: RequestFilter) -> list[object]:
    where: list[object] = [Wish.kind == "change", Wish.municipality_id.is_not(None)]
    if chosen.municipality_ids is not None:
        where.append(Wish.municipality_id.in_(chosen.municipality_ids))
    if chosen.categories is not None:
        where.append(Wish.category.in_(chosen.categories))
    if chosen.statuses is not None:
        where.append(Wish.status.in_(chosen.statuses))
    if chosen.references is not None:
        where.append(Wish.reference.in_(chosen.references))
    if chosen.start is not None:
        where.append(Wish.created_at >= chosen.start)
    if chosen.end is not None:
        where.append(Wish.created_at <= chosen.end)
    return where


async def public_requests(
    session: AsyncSession, chosen: RequestFilter, offset: int, limit: int
) -> Sequence[Wish]:
    """Wishes to change as service requests, newest first (with their municipality)."""
    query = (
        select(Wish)
        .where(*_where(chosen))  # type: ignore[arg-type]
        .order_by(Wish.created_at.desc(), Wish.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def wish_counts(
    session: AsyncSession, municipality_id: int
) -> list[tuple[str, str, str, int]]:
    """(kind, category, status, count) of all a municipality's wishes."""
    rows = await session.execute(
        select(Wish.kind, Wish.category, Wish.status, func.count(Wish.id))
        .where(Wish.municipality_id == municipality_id)
        .group_by(Wish.kind, Wish.category, Wish.status)
    )
    return [(str(k), str(c), str(s), int(n)) for k, c, s, n in rows]


async def wish_times(
    session: AsyncSession, municipality_id: int, since: datetime
) -> list[datetime]:
    """When a municipality's wishes since `since` were written (counted into weeks)."""
    rows = await session.scalars(
        select(Wish.created_at).where(
            Wish.municipality_id == municipality_id, Wish.created_at >= since
        )
    )
    return list(rows)


async def count_wishes_since(session: AsyncSession, municipality_id: int, since: datetime) -> int:
    """A municipality's wishes written since `since`."""
    query = select(func.count(Wish.id)).where(
        Wish.municipality_id == municipality_id, Wish.created_at >= since
    )
    return int(await session.scalar(query) or 0)


async def wish_totals(session: AsyncSession) -> dict[int, int]:
    """Every municipality's number of wishes, by its id."""
    rows = await session.execute(
        select(Wish.municipality_id, func.count(Wish.id))
        .where(Wish.municipality_id.is_not(None))
        .group_by(Wish.municipality_id)
    )
    return {int(place or 0): int(count) for place, count in rows}
