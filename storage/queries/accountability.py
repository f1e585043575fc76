"""What the accountability figures are counted from (issue 30; handlers/accountability.py
counts them): for each municipality, when its wishes and appeals arrived, fell due and were
first answered. Four queries whatever the number of municipalities asked for — the national
page asks for all of them. Dates and counts only: never a text, a name or a person.

A wish's answer is its first `wish_answers` row with a final status (FINAL_STATUSES), as an
appeal's clock stops on one (`appeals.answered_on`): one meaning of "answered" for both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Subquery, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import DUPLICATE, FINAL_STATUSES
from storage.models import Appeal, Wish, WishAnswer
from storage.queries.appeals import overdue_at_end_of


@dataclass(frozen=True)
class WishClock:
    municipality_id: int
    created_at: datetime
    answered_at: datetime | None  # its first answer with a final status
    appealed_on: date | None  # made an appeal that day: counted as the appeal from then on


@dataclass(frozen=True)
class AppealClock:
    municipality_id: int
    registered_on: date
    due_on: date
    answered_on: date | None


def first_final_answers() -> Subquery:
    """Each wish's first answer with a final status: (wish_id, at)."""
    return (
        select(WishAnswer.wish_id, func.min(WishAnswer.created_at).label("at"))
        .where(WishAnswer.status.in_(sorted(FINAL_STATUSES)))
        .group_by(WishAnswer.wish_id)
        .subquery()
    )


def _counted_wishes(municipality_ids: Sequence[int] | None) -> list[ColumnElement[bool]]:
    """Wishes on the clock: to change, not hidden, not a duplicate (it is answered through
    the wish it repeats), placed in a municipality (docs/decisions.md: "A wish to change has
    the appeal's legal period", "Hidden wishes and duplicates are left out" and "A wish's clock
    starts the day it came")."""
    where: list[ColumnElement[bool]] = [
        Wish.municipality_id.is_not(None),
        Wish.kind == "change",
        Wish.hidden.is_(False),
        Wish.status != DUPLICATE,
    ]
    if municipality_ids is not None:
        where.append(Wish.municipality_id.in_(municipality_ids))
    return where


async def wish_clocks(
    session: AsyncSession,
    municipality_ids: Sequence[int] | None,
    answered_from: datetime,
    until: datetime,
    created_from: datetime,
    created_before: datetime,
) -> list[WishClock]:
    """Wishes first answered in [answered_from, until), and those created in [created_from,
    created_before) (a range that holds every wish falling due in the period) that were not
    answered before `until`, with the day each became an appeal, if it did. None: every
    municipality."""
    answers = first_final_answers()
    answered = answers.c.at
    unanswered = or_(answered.is_(None), answered >= until)
    rows = await session.execute(
        select(Wish.municipality_id, Wish.created_at, answered, Appeal.registered_on)
        .outerjoin(answers, answers.c.wish_id == Wish.id)
        .outerjoin(Appeal, Appeal.wish_id == Wish.id)
        .where(
            *_counted_wishes(municipality_ids),
            or_(
                and_(answered >= answered_from, answered < until),
                and_(Wish.created_at >= created_from, Wish.created_at < created_before, unanswered),
            ),
        )
    )
    return [WishClock(int(m or 0), created, at, appealed) for m, created, at, appealed in rows]


async def appeal_clocks(
    session: AsyncSession, municipality_ids: Sequence[int] | None, first: date, end: date
) -> list[AppealClock]:
    """Appeals answered in [first, end), and those due in it and not answered before end."""
    where: list[ColumnElement[bool]] = [
        or_(
            and_(Appeal.answered_on >= first, Appeal.answered_on < end),
            and_(
                Appeal.due_on >= first,
                Appeal.due_on < end,
                or_(Appeal.answered_on.is_(None), Appeal.answered_on >= end),
            ),
        )
    ]
    if municipality_ids is not None:
        where.append(Appeal.municipality_id.in_(municipality_ids))
    rows = await session.execute(
        select(
            Appeal.municipality_id, Appeal.registered_on, Appeal.due_on, Appeal.answered_on
        ).where(*where)
    )
    return [AppealClock(int(m), registered, due, answered) for m, registered, due, answered in rows]


async def overdue_counts(
    session: AsyncSession,
    municipality_ids: Sequence[int] | None,
    day: date,
    day_ends: datetime,
    wishes_created_before: datetime,
) -> dict[int, tuple[int, int]]:
    """(appeals, wishes) overdue at the end of `day` (which ends at `day_ends`) by
    municipality id: an appeal past its due date unanswered (storage/queries/appeals.py's
    rule); a wish unanswered then that was created before `wishes_created_before` (the
    caller's cut: its period has run out) and was not an appeal by then."""
    appeals = select(Appeal.municipality_id, func.count(Appeal.id)).where(overdue_at_end_of(day))
    answers = first_final_answers()
    wishes = (
        select(Wish.municipality_id, func.count(Wish.id))
        .outerjoin(answers, answers.c.wish_id == Wish.id)
        .outerjoin(Appeal, Appeal.wish_id == Wish.id)
        .where(
            *_counted_wishes(municipality_ids),
            or_(answers.c.at.is_(None), answers.c.at >= day_ends),
            or_(Appeal.registered_on.is_(None), Appeal.registered_on > day),
            Wish.created_at < wishes_created_before,
        )
    )
    if municipality_ids is not None:
        appeals = appeals.where(Appeal.municipality_id.in_(municipality_ids))
    counts: dict[int, tuple[int, int]] = {}
    for place, count in await session.execute(appeals.group_by(Appeal.municipality_id)):
        counts[int(place)] = (int(count), 0)
    for wished, late in await session.execute(wishes.group_by(Wish.municipality_id)):
        counts[int(wished or 0)] = (counts.get(int(wished or 0), (0, 0))[0], int(late))
    return counts
