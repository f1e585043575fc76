"""The staff console (bot/web/staff): one-time links, signed-in browsers, and its lists of
wishes — appeals first by due date, then the newest (docs/decisions.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Appeal,
    ConsoleLink,
    ConsoleSession,
    Person,
    Role,
    Village,
    Wish,
    WishAnswer,
)
from storage.queries.answers import contains, inbox_filter, next_after

# --- one-time links and sessions -------------------------------------------------------


def add_link(session: AsyncSession, token_key: str, person_id: int, expires_at: datetime) -> None:
    session.add(ConsoleLink(token_key=token_key, person_id=person_id, expires_at=expires_at))


async def link_of(session: AsyncSession, token_keys: Sequence[str]) -> ConsoleLink | None:
    return await session.scalar(select(ConsoleLink).where(ConsoleLink.token_key.in_(token_keys)))


async def use_link(session: AsyncSession, token_keys: Sequence[str], now: datetime) -> int | None:
    """Mark the link used, in one conditional UPDATE (of two tabs posting at once, one wins);
    the person it was for, or None if it was used, expired or never made."""
    result = await session.execute(
        update(ConsoleLink)
        .where(
            ConsoleLink.token_key.in_(token_keys),
            ConsoleLink.used_at.is_(None),
            ConsoleLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.scalar(
        select(ConsoleLink.person_id).where(ConsoleLink.token_key.in_(token_keys))
    )


def add_session(
    session: AsyncSession, session_key: str, person_id: int, csrf: str, now: datetime
) -> None:
    session.add(
        ConsoleSession(
            session_key=session_key,
            person_id=person_id,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
        )
    )


async def live_session(
    session: AsyncSession,
    session_keys: Sequence[str],
    *,
    seen_after: datetime,
    created_after: datetime,
) -> ConsoleSession | None:
    """The signed-in browser, unless it logged out, was idle since `seen_after`, or began
    before `created_after`."""
    return await session.scalar(
        select(ConsoleSession).where(
            ConsoleSession.session_key.in_(session_keys),
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.last_seen_at > seen_after,
            ConsoleSession.created_at > created_after,
        )
    )


async def touch_session(session: AsyncSession, session_key: str, now: datetime) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.session_key == session_key)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


async def end_session(session: AsyncSession, session_key: str, now: datetime) -> None:
    await end_sessions(session, [session_key], now)


async def end_sessions(session: AsyncSession, session_keys: Sequence[str], now: datetime) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.session_key.in_(session_keys), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


async def sweep(
    session: AsyncSession, now: datetime, idle: timedelta, lifetime: timedelta
) -> tuple[int, int]:
    """Delete links past their expiry (used or not) and sessions that ended, went idle or
    outlived `lifetime`: nothing of them opens anything any more. (links, sessions) deleted."""
    links = await session.execute(delete(ConsoleLink).where(ConsoleLink.expires_at <= now))
    sessions = await session.execute(
        delete(ConsoleSession).where(
            or_(
                ConsoleSession.ended_at.is_not(None),
                ConsoleSession.last_seen_at <= now - idle,
                ConsoleSession.created_at <= now - lifetime,
            )
        )
    )
    return int(links.rowcount), int(sessions.rowcount)  # type: ignore[attr-defined]


# --- the lists -----------------------------------------------------------------------------

OVERDUE, THIS_WEEK = "overdue", "week"


@dataclass(frozen=True)
class Listing:
    """What a console list shows: the filters of its address (bot/web/staff/listing.py)."""

    status: str | None = None  # as the chat inbox's (storage/queries/answers.py); None: any
    category: str | None = None
    due: str | None = None  # OVERDUE or THIS_WEEK (appeals not answered yet)
    assigned_to: int | None = None
    search: str = ""  # a reference, or words
    # A village id: wishes of residents who said they live there (at a poll's end); the
    # others' village is not known.
    village: int | None = None


def _where(
    municipality_ids: Sequence[int], listing: Listing, today: date
) -> list[ColumnElement[bool]]:
    words = listing.search.split()
    reference = listing.search if listing.search.isdigit() else None
    where = inbox_filter(
        municipality_ids, listing.status, listing.category, () if reference else words
    )
    if reference is not None:  # a reference, or digits in a text (a house number)
        where.append(or_(Wish.reference == reference, contains(reference)))
    if listing.assigned_to is not None:
        where.append(Wish.assigned_to == listing.assigned_to)
    if listing.village is not None:
        villagers = select(Person.id).where(Person.village_id == listing.village)
        where.append(Wish.person_id.in_(villagers))
    if listing.due is not None:
        where.append(Appeal.answered_on.is_(None))
        if listing.due == OVERDUE:
            where.append(Appeal.due_on < today)
        else:
            where.append(Appeal.due_on.between(today, today + timedelta(days=6)))
    return where


def _ordered(query: Select[Wish]) -> Select[Wish]:
    """Appeals first, the earliest due first; then the rest, the newest first."""
    return query.order_by(
        Appeal.due_on.is_(None), Appeal.due_on, Wish.created_at.desc(), Wish.id.desc()
    )


def _selected(municipality_ids: Sequence[int], listing: Listing, today: date) -> Select[Wish]:
    return (
        select(Wish)
        .outerjoin(Appeal, Appeal.wish_id == Wish.id)
        .where(*_where(municipality_ids, listing, today))
    )


async def console_page(
    session: AsyncSession,
    municipality_ids: Sequence[int],
    listing: Listing,
    today: date,
    offset: int,
    limit: int,
) -> tuple[Sequence[Wish], int]:
    """One page of the list and how many it holds in all."""
    where = _where(municipality_ids, listing, today)
    total = await session.scalar(
        select(func.count(Wish.id)).outerjoin(Appeal, Appeal.wish_id == Wish.id).where(*where)
    )
    page = await session.scalars(
        _ordered(_selected(municipality_ids, listing, today)).offset(offset).limit(limit)
    )
    return page.all(), int(total or 0)


async def next_in_list(
    session: AsyncSession,
    municipality_ids: Sequence[int],
    listing: Listing,
    today: date,
    after: Wish,
) -> Wish | None:
    """The wish after `after` in the list as it is now, wrapping to the top (the chat
    inbox's rule): a list the answer does not shrink is walked through, not looped."""
    return await next_after(session, _where(municipality_ids, listing, today), after)


async def wishes_by_reference(
    session: AsyncSession, references: Sequence[str], municipality_ids: Sequence[int]
) -> Sequence[Wish]:
    return (
        await session.scalars(
            select(Wish)
            .where(Wish.reference.in_(references), Wish.municipality_id.in_(municipality_ids))
            .order_by(Wish.id)
        )
    ).all()


async def staff_of(session: AsyncSession, municipality_id: int) -> list[int]:
    """The people who are staff of the municipality: whom a wish may be assigned to."""
    found = await session.scalars(
        select(Role.person_id)
        .where(Role.role == "staff", Role.municipality_id == municipality_id)
        .distinct()
        .order_by(Role.person_id)
    )
    return list(found.all())


async def answers_of(session: AsyncSession, wish_id: int) -> Sequence[WishAnswer]:
    """What staff did with the wish, the oldest first: its history on the card."""
    found = await session.scalars(
        select(WishAnswer)
        .where(WishAnswer.wish_id == wish_id)
        .order_by(WishAnswer.created_at, WishAnswer.id)
    )
    return found.all()


async def villages_in(session: AsyncSession, municipality_ids: Sequence[int]) -> Sequence[Village]:
    """The villages of these municipalities, for the list's village filter, in their order."""
    query = select(Village).where(Village.municipality_id.in_(municipality_ids))
    return (await session.scalars(query.order_by(Village.municipality_id, Village.position))).all()
