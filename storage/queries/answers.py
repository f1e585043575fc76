"""Staff answering wishes: the inbox, the answers kept, a resident's own wishes, and the
follow-up four weeks after "done"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.channels import REACHABLE
from storage.models import (
    Announcement,
    Appeal,
    Conversation,
    Person,
    Wish,
    WishAnswer,
)

OPEN = ("accepted", "in_progress")  # statuses still waiting for staff
# How the inbox and every reader name a wish no staff member has answered yet: stored as
# "accepted" (the status every wish starts with), shown as "received" (handlers/answering.py).
RECEIVED = "received"
SEARCH_WORDS = 5  # words of an inbox search that count


def _received() -> ColumnElement[bool]:
    return (Wish.status == "accepted") & Wish.answered_at.is_(None)


def _appeal_waiting() -> ColumnElement[bool]:
    """An appeal not answered yet: an interim answer ("in progress") does not stop its clock,
    so it stays among the waiting (handlers/answering.py)."""
    waiting = select(Appeal.id).where(Appeal.wish_id == Wish.id, Appeal.answered_on.is_(None))
    return waiting.correlate_except(Appeal).exists()  # its own appeals, beside any join


def inbox_filter(
    municipality_ids: Sequence[int],
    status: str | None,
    category: str | None,
    words: Sequence[str] = (),
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Wish.municipality_id.in_(municipality_ids)]
    if status == RECEIVED:  # waiting: not answered yet, or an appeal whose clock still runs
        where.append(_received() | _appeal_waiting())
    elif status == "accepted":  # by staff: not the same as received
        where.append((Wish.status == "accepted") & Wish.answered_at.is_not(None))
    elif status == "open":
        where.append(Wish.status.in_(OPEN))
    elif status is not None:
        where.append(Wish.status == status)
    if category is not None:
        where.append(Wish.category == category)
    where += [contains(word) for word in words[:SEARCH_WORDS] if word]
    return where


def contains(word: str) -> ColumnElement[bool]:
    """The text has the word in it as typed, in lower case, Capitalised or in capitals:
    SQLite folds the case of Latin letters only (LIKE, lower()), and residents write
    Cyrillic words in those three ways; one rule on both databases."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    spellings = dict.fromkeys((escaped, escaped.lower(), escaped.capitalize(), escaped.upper()))
    return or_(*(Wish.text.like(f"%{spelling}%", escape="\\") for spelling in spellings))


_NEWEST_FIRST = (Wish.created_at.desc(), Wish.id.desc())
# The inbox's order: wishes that are appeals first, the earliest due first (the legal clock,
# issue 30), then the rest newest first. Its rows are selected joined to their appeal, if any.
_INBOX_ORDER = (Appeal.id.is_(None), Appeal.due_on, *_NEWEST_FIRST)


def _inbox_rows() -> Select[Any]:
    return select(Wish).outerjoin(Appeal, Appeal.wish_id == Wish.id)


async def inbox_page(
    session: AsyncSession,
    municipality_ids: Sequence[int],
    status: str | None,
    category: str | None,
    offset: int,
    limit: int,
    words: Sequence[str] = (),
) -> tuple[Sequence[Wish], int]:
    """One page of these municipalities' wishes, appeals first by due date and then the
    newest first, and how many match in all."""
    where = inbox_filter(municipality_ids, status, category, words)
    total = await session.scalar(select(func.count(Wish.id)).where(*where))
    page = await session.scalars(
        _inbox_rows().where(*where).order_by(*_INBOX_ORDER).offset(offset).limit(limit)
    )
    return page.all(), int(total or 0)


async def next_in_inbox(
    session: AsyncSession,
    municipality_ids: Sequence[int],
    status: str | None,
    category: str | None,
    words: Sequence[str],
    after: Wish,
) -> Wish | None:
    """The wish that follows `after` in its inbox list (appeals by due date, then newest
    first) as the list is now; past the end, the list's first; None if `after` is all it
    holds, or not even that."""
    where = inbox_filter(municipality_ids, status, category, words)
    return await next_after(session, where, after)


async def next_after(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], after: Wish
) -> Wish | None:
    """The wish after `after` in the inbox's order among those `where` selects (the chat
    inbox's lists, the console's): past the end, the first; None if `after` is all."""
    older = (Wish.created_at < after.created_at) | (
        (Wish.created_at == after.created_at) & (Wish.id < after.id)
    )
    due = await session.scalar(select(Appeal.due_on).where(Appeal.wish_id == after.id))
    below = Appeal.id.is_(None) & older
    if due is not None:  # later appeals, then every wish that is not one
        later = (Appeal.due_on > due) | ((Appeal.due_on == due) & older)
        below = Appeal.id.is_(None) | (Appeal.id.is_not(None) & later)
    for extra in (below, Wish.id != after.id):
        found = await session.scalar(
            _inbox_rows().where(*where, extra).order_by(*_INBOX_ORDER).limit(1)
        )
        if found is not None:
            return found
    return None


async def wish_by_reference(session: AsyncSession, reference: str) -> Wish | None:
    return await session.scalar(select(Wish).where(Wish.reference == reference.upper()))


async def wish_by_id(session: AsyncSession, wish_id: int) -> Wish | None:
    return await session.get(Wish, wish_id)


async def duplicates_of(session: AsyncSession, wish_id: int) -> Sequence[Wish]:
    """The wishes marked as repeating this one."""
    return (
        await session.scalars(select(Wish).where(Wish.duplicate_of == wish_id).order_by(Wish.id))
    ).all()


def add_answer(
    session: AsyncSession,
    wish: Wish,
    status: str,
    text: str | None,
    staff_id: int | None,
    channel: str,
    now: datetime,
) -> None:
    session.add(
        WishAnswer(
            wish_id=wish.id,
            status=status,
            text=text,
            staff_id=staff_id,
            channel=channel,
            created_at=now,
        )
    )


async def wishes_of(session: AsyncSession, person_id: int, limit: int) -> Sequence[Wish]:
    """A resident's newest wishes."""
    return (
        await session.scalars(
            select(Wish)
            .where(Wish.person_id == person_id)
            .order_by(Wish.created_at.desc(), Wish.id.desc())
            .limit(limit)
        )
    ).all()


async def due_followups(session: AsyncSession, done_before: datetime, limit: int) -> Sequence[Wish]:
    """Wishes done before `done_before` whose resident has not been asked yet, can be (not
    opted out, not in a browser, where nothing reaches them), and is in no other flow (the
    question becomes their conversation's step)."""
    return (
        await session.scalars(
            select(Wish)
            .join(Person, Person.id == Wish.person_id)
            .outerjoin(Conversation, Conversation.person_id == Person.id)
            .where(
                Wish.status == "done",
                Wish.status_at < done_before,
                Wish.followup_at.is_(None),
                Person.opted_out.is_(False),
                Person.channel.in_(REACHABLE),  # a browser could not be asked
                Conversation.step.is_(None),
            )
            .order_by(Wish.status_at, Wish.id)
            .limit(limit)
        )
    ).all()


async def claim_followup(session: AsyncSession, wish_id: int, now: datetime) -> bool:
    """Mark the follow-up asked; False if another worker has asked it already."""
    result = await session.execute(
        update(Wish).where(Wish.id == wish_id, Wish.followup_at.is_(None)).values(followup_at=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def latest_answer(session: AsyncSession, wish_id: int) -> WishAnswer | None:
    """What staff did last with the wish, if anything."""
    return await session.scalar(
        select(WishAnswer)
        .where(WishAnswer.wish_id == wish_id)
        .order_by(WishAnswer.created_at.desc(), WishAnswer.id.desc())
        .limit(1)
    )


async def answer_counts_between(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime
) -> dict[str, int]:
    """The wishes staff answered in [start, end), each once, by the last status it was given
    then (a wish answered twice is one wish)."""
    ranked = (
        select(
            WishAnswer.status,
            func.row_number()
            .over(
                partition_by=WishAnswer.wish_id,
                order_by=(WishAnswer.created_at.desc(), WishAnswer.id.desc()),
            )
            .label("rank"),
        )
        .join(Wish, Wish.id == WishAnswer.wish_id)
        .where(
            Wish.municipality_id == municipality_id,
            WishAnswer.created_at >= start,
            WishAnswer.created_at < end,
        )
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.status, func.count()).where(ranked.c.rank == 1).group_by(ranked.c.status)
    )
    return {str(status): int(count) for status, count in rows}


async def done_between(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime
) -> Sequence[Wish]:
    """Wishes marked done in [start, end), the first done first."""
    return (
        await session.scalars(
            select(Wish)
            .where(
                Wish.municipality_id == municipality_id,
                Wish.status == "done",
                Wish.status_at >= start,
                Wish.status_at < end,
            )
            .order_by(Wish.status_at, Wish.id)
        )
    ).all()


async def waiting_longest(
    session: AsyncSession, municipality_id: int, before: datetime, limit: int
) -> Sequence[Wish]:
    """ "I want to change…" wishes made before `before` that no one has answered yet, the
    oldest first."""
    return (
        await session.scalars(
            select(Wish)
            .where(
                Wish.municipality_id == municipality_id,
                Wish.kind == "change",
                _received(),
                Wish.created_at < before,
            )
            .order_by(Wish.created_at, Wish.id)
            .limit(limit)
        )
    ).all()


def _topic_writers(municipality_id: int, category: str, since: datetime) -> Select[Any]:
    return (
        select(Wish.person_id)
        .join(Person, Person.id == Wish.person_id)
        .where(
            Wish.municipality_id == municipality_id,
            Wish.category == category,
            Wish.created_at >= since,
            Person.channel.in_(REACHABLE),
            Person.opted_out.is_(False),
        )
        .distinct()
    )


async def topic_writers(
    session: AsyncSession, municipality_id: int, category: str, since: datetime
) -> list[int]:
    """The people (not opted out) who wrote on this topic here since `since`."""
    rows = await session.scalars(_topic_writers(municipality_id, category, since))
    return sorted(int(person_id) for person_id in rows if person_id is not None)


async def add_announcement(session: AsyncSession, announcement: Announcement) -> bool:
    """Keep it unless this municipality had one on this topic this week (False): one
    statement, so that two staff members at once cannot both send."""
    dialect = (await session.connection()).dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    values = {
        column.key: getattr(announcement, column.key)
        for column in Announcement.__table__.columns
        if column.key != "id"
    }
    added = await session.scalar(
        insert(Announcement).values(**values).on_conflict_do_nothing().returning(Announcement.id)
    )
    return added is not None
