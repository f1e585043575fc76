"""Appeals on the legal clock (issue 30): registering one under a number unique in its
municipality, reading them for lists, stamping each reminder and the overdue mark once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Appeal, Wish, utcnow
from storage.queries.common import insert_ignore

# The columns a job stamps once (a conditional UPDATE: two workers, one stamp).
Stamp = Literal["reminded_before_at", "reminded_due_at", "overdue_at"]
NUMBER_ATTEMPTS = 8  # numbers tried when other workers register in the same municipality


async def appeal_of(session: AsyncSession, wish_id: int) -> Appeal | None:
    return await session.scalar(select(Appeal).where(Appeal.wish_id == wish_id))


async def appeals_for(session: AsyncSession, wish_ids: Iterable[int]) -> dict[int, Appeal]:
    """The appeals of these wishes, by wish id, in one query (for a list's lines)."""
    ids = list(dict.fromkeys(wish_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Appeal).where(Appeal.wish_id.in_(ids)))
    return {appeal.wish_id: appeal for appeal in rows}


async def add_appeal(
    session: AsyncSession,
    *,
    wish: Wish,
    prefix: str,
    sealed: str,
    registered_on: date,
    due_on: date,
) -> tuple[Appeal, bool]:
    """Register the wish as an appeal numbered `<prefix>-<n>`, n one more than the
    municipality's appeals under that prefix; (the appeal, True) when it is new, (the one it
    already was, False) otherwise. A number another worker took meanwhile is refused by the
    unique constraint (ON CONFLICT DO NOTHING) and the next one is tried."""
    assert wish.municipality_id is not None
    taken = await session.scalar(
        select(func.count(Appeal.id)).where(
            Appeal.municipality_id == wish.municipality_id, Appeal.number.like(f"{prefix}-%")
        )
    )
    for attempt in range(NUMBER_ATTEMPTS):
        row = {
            "wish_id": wish.id,
            "municipality_id": wish.municipality_id,
            "number": f"{prefix}-{int(taken or 0) + 1 + attempt}",
            "sealed": sealed,
            "registered_on": registered_on,
            "due_on": due_on,
            "first_due_on": due_on,
            "created_at": utcnow(),
        }
        added = await insert_ignore(session, Appeal, [row])
        found = await appeal_of(session, wish.id)
        if found is not None:
            return found, added == 1
    raise RuntimeError(f"no free appeal number under {prefix} after {NUMBER_ATTEMPTS} tries")


async def last_change_wish(session: AsyncSession, person_id: int) -> Wish | None:
    """The resident's newest wish to change something (what `/appeal` alone means)."""
    return await session.scalar(
        select(Wish)
        .where(Wish.person_id == person_id, Wish.kind == "change")
        .order_by(Wish.created_at.desc(), Wish.id.desc())
        .limit(1)
    )


async def running(session: AsyncSession, due_by: date) -> Sequence[Appeal]:
    """Unanswered appeals due by `due_by` not yet marked overdue: what the clock looks at."""
    return (
        await session.scalars(
            select(Appeal)
            .where(
                Appeal.answered_on.is_(None),
                Appeal.overdue_at.is_(None),
                Appeal.due_on <= due_by,
            )
            .order_by(Appeal.due_on, Appeal.id)
        )
    ).all()


async def stamp(
    session: AsyncSession, appeal_id: int, column: Stamp, now: datetime, due_on: date
) -> bool:
    """Stamp the appeal's reminder or overdue mark, unless it is stamped already, answered,
    or no longer due on `due_on` (the date the stage was read against: an extension
    meanwhile moved it); whether this call stamped it (the one worker that then tells)."""
    field = getattr(Appeal, column)
    result = await session.execute(
        update(Appeal)
        .where(
            Appeal.id == appeal_id,
            field.is_(None),
            Appeal.answered_on.is_(None),
            Appeal.due_on == due_on,
        )
        .values({column: now})
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def overdue_at_end_of(day: date) -> ColumnElement[bool]:
    """An appeal overdue at the end of `day`: due before it and not answered by then (for
    today: unanswered; for a past week's end, as it stood then). The one rule of "overdue"
    (the clock's lists here, the accountability figures' counts)."""
    return and_(Appeal.due_on < day, or_(Appeal.answered_on.is_(None), Appeal.answered_on > day))


async def extend(
    session: AsyncSession, appeal_id: int, read_due: date, due_on: date, reason: str
) -> bool:
    """Move the appeal's due date once, with its reason, and clear its reminders (due again
    for the new date) — if it is still unanswered, unextended and due on `read_due`: of two
    staff extending at once, one wins; whether this call did."""
    result = await session.execute(
        update(Appeal)
        .where(
            Appeal.id == appeal_id,
            Appeal.extended_reason.is_(None),
            Appeal.answered_on.is_(None),
            Appeal.due_on == read_due,
        )
        .values(
            due_on=due_on,
            extended_reason=reason,
            reminded_before_at=None,
            reminded_due_at=None,
            overdue_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def overdue(
    session: AsyncSession, today: date, municipality_ids: Sequence[int] | None = None
) -> Sequence[Appeal]:
    """Unanswered appeals whose due day has passed, earliest due first (with their wish)."""
    query = select(Appeal).where(overdue_at_end_of(today))
    if municipality_ids is not None:
        query = query.where(Appeal.municipality_id.in_(municipality_ids))
    return (await session.scalars(query.order_by(Appeal.due_on, Appeal.id))).all()


async def count_sealed_of(session: AsyncSession, person_id: int) -> int:
    """The resident's appeals that hold their name and address (for /mydata)."""
    count = await session.scalar(
        select(func.count(Appeal.id))
        .join(Wish, Wish.id == Appeal.wish_id)
        .where(Wish.person_id == person_id, Appeal.sealed.is_not(None))
    )
    return int(count or 0)


async def unseal_appeals_of(session: AsyncSession, person_id: int) -> None:
    """/forget: the resident's name and address go; their appeals stay, on the clock."""
    wishes = select(Wish.id).where(Wish.person_id == person_id).scalar_subquery()
    await session.execute(
        update(Appeal)
        .where(Appeal.wish_id.in_(wishes))
        .values(sealed=None)
        .execution_options(synchronize_session=False)
    )


async def sealed_appeals(session: AsyncSession) -> list[tuple[int, str]]:
    """(id, seal) of the appeals whose appellant's name and address are still sealed (for a
    key rotation)."""
    rows = await session.execute(
        select(Appeal.id, Appeal.sealed).where(Appeal.sealed.is_not(None)).order_by(Appeal.id)
    )
    return [(appeal_id, str(sealed)) for appeal_id, sealed in rows.all()]


async def reseal(session: AsyncSession, appeal_id: int, read: str, sealed: str) -> bool:
    """Replace the appeal's seal if it is still the one read: a /forget meanwhile (None) is
    never undone by a rotation; whether it was replaced."""
    result = await session.execute(
        update(Appeal)
        .where(Appeal.id == appeal_id, Appeal.sealed == read)
        .values(sealed=sealed)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def stop_clock(session: AsyncSession, wish_id: int, today: date) -> None:
    """An answer with a final status: the appeal (if any) is answered today, once."""
    await session.execute(
        update(Appeal)
        .where(Appeal.wish_id == wish_id, Appeal.answered_on.is_(None))
        .values(answered_on=today)
        .execution_options(synchronize_session=False)
    )
