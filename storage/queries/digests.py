"""What weekly digests read, and their delivery rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    BribeReport,
    DigestDelivery,
    DigestPeriod,
    Initiative,
    Person,
    Role,
    Signature,
    Wish,
    utcnow,
)
from storage.queries.common import insert_ignore
from storage.queries.roles import OFFICIAL_ROLES


async def wishes_between(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime
) -> Sequence[Wish]:
    """A municipality's wishes created in [start, end), oldest first."""
    return (
        await session.scalars(
            select(Wish)
            .where(
                Wish.municipality_id == municipality_id,
                Wish.created_at >= start,
                Wish.created_at < end,
            )
            .order_by(Wish.created_at, Wish.id)
        )
    ).all()


async def wish_counts_between(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    """(kind, category) -> number of wishes created in [start, end)."""
    rows = await session.execute(
        select(Wish.kind, Wish.category, func.count())
        .where(
            Wish.municipality_id == municipality_id,
            Wish.created_at >= start,
            Wish.created_at < end,
        )
        .group_by(Wish.kind, Wish.category)
    )
    return {(str(kind), str(category)): int(n) for kind, category, n in rows.all()}


async def bribe_counts_between(
    session: AsyncSession, municipality_id: int, first: date, last: date
) -> dict[tuple[int, str], int]:
    """(service, outcome) -> reports given between these days, both included."""
    rows = await session.execute(
        select(BribeReport.service, BribeReport.outcome, func.count())
        .where(
            BribeReport.municipality_id == municipality_id,
            BribeReport.created_on >= first,
            BribeReport.created_on <= last,
        )
        .group_by(BribeReport.service, BribeReport.outcome)
    )
    return {(int(service), str(outcome)): int(n) for service, outcome, n in rows.all()}


async def initiatives_open_during(
    session: AsyncSession, municipality_id: int, first: date, last: date
) -> Sequence[Initiative]:
    """National initiatives and this municipality's that collected signatures on any day
    between `first` and `last`."""
    return (
        await session.scalars(
            select(Initiative)
            .where(
                or_(
                    Initiative.municipality_id.is_(None),
                    Initiative.municipality_id == municipality_id,
                ),
                Initiative.opens_on <= last,
                func.coalesce(Initiative.closed_on, Initiative.closes_on) >= first,
            )
            .order_by(Initiative.closes_on, Initiative.code)
        )
    ).all()


def _counting_at(last: date) -> ColumnElement[bool]:
    """A signature that counted at the end of `last`: counted now, or withdrawn only later."""
    return or_(
        Signature.status == "counted",
        (Signature.status == "withdrawn") & (Signature.withdrawn_on > last),
    )


async def signatures_counted_by(session: AsyncSession, initiative_id: int, last: date) -> int:
    """How many signatures counted at the end of `last` (a past week's total, not today's)."""
    query = select(func.count()).where(
        Signature.initiative_id == initiative_id, Signature.signed_on <= last, _counting_at(last)
    )
    return int(await session.scalar(query) or 0)


async def signatures_counted_between(
    session: AsyncSession, initiative_id: int, first: date, last: date
) -> int:
    """Signatures given between `first` and `last` that counted at the end of `last`."""
    query = select(func.count()).where(
        Signature.initiative_id == initiative_id,
        Signature.signed_on >= first,
        Signature.signed_on <= last,
        _counting_at(last),
    )
    return int(await session.scalar(query) or 0)


async def digest_planned(session: AsyncSession, period: str) -> bool:
    return await session.get(DigestPeriod, period) is not None


async def plan_digests(
    session: AsyncSession, period: str, municipality_id: int | None, now: datetime
) -> int:
    """A pending delivery for every official without one for this week; how many were
    added. Running it again adds only officials who joined since; two runs at once add
    each row once (the unique constraint decides, without an error)."""
    if municipality_id is None:
        await insert_ignore(session, DigestPeriod, [{"period": period, "planned_at": now}])
    query = select(Role.person_id, Role.municipality_id, func.max(Role.role)).where(
        Role.role.in_(OFFICIAL_ROLES), Role.municipality_id.is_not(None)
    )
    if municipality_id is not None:
        query = query.where(Role.municipality_id == municipality_id)
    # A deputy who is also staff gets one digest, as staff (with the CSV): max() picks it.
    rows = (await session.execute(query.group_by(Role.person_id, Role.municipality_id))).all()
    values = [
        {
            "municipality_id": place_id,
            "period": period,
            "person_id": person_id,
            "role": role,
            "status": "pending",
            "attempts": 0,
            "messages": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for person_id, place_id, role in rows
    ]
    return await insert_ignore(session, DigestDelivery, values)


async def interrupt_stale_digests(session: AsyncSession, claimed_before: datetime) -> int:
    """Deliveries claimed by a sender that never finished (it died): not sent again, since
    part of them may have arrived."""
    result = await session.execute(
        update(DigestDelivery)
        .where(DigestDelivery.status == "sending", DigestDelivery.claimed_at < claimed_before)
        .values(status="interrupted", finished_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def claim_digest(
    session: AsyncSession, channels: Sequence[str], now: datetime
) -> DigestDelivery | None:
    """Take the next due delivery for one of these channels and mark it "sending".

    On PostgreSQL the row is locked with SKIP LOCKED, so that workers pass each other by;
    on SQLite (which ignores FOR UPDATE) the status check in the UPDATE does the same job.
    """
    candidate = await session.scalar(
        select(DigestDelivery.id)
        .join(Person, Person.id == DigestDelivery.person_id)
        .where(
            DigestDelivery.status == "pending",
            DigestDelivery.next_attempt_at <= now,
            Person.channel.in_(channels),
        )
        .order_by(DigestDelivery.next_attempt_at, DigestDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=DigestDelivery)
    )
    if candidate is None:
        return None
    result = await session.execute(
        update(DigestDelivery)
        .where(  # still due: another worker may have tried it and put it back for later
            DigestDelivery.id == candidate,
            DigestDelivery.status == "pending",
            DigestDelivery.next_attempt_at <= now,
        )
        .values(status="sending", claimed_at=now, attempts=DigestDelivery.attempts + 1)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return await session.get(DigestDelivery, candidate, populate_existing=True)


async def digest_delivery(session: AsyncSession, delivery_id: int) -> DigestDelivery:
    delivery = await session.get(DigestDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    return delivery


async def digest_tally(session: AsyncSession, period: str) -> dict[str, int]:
    rows = await session.execute(
        select(DigestDelivery.status, func.count())
        .where(DigestDelivery.period == period)
        .group_by(DigestDelivery.status)
    )
    return {str(status): int(n) for status, n in rows.all()}


async def latest_digest_tally(session: AsyncSession) -> dict[str, int]:
    """The deliveries of the newest planned week, by status (for /metrics)."""
    period = await session.scalar(
        select(DigestPeriod.period).order_by(DigestPeriod.period.desc()).limit(1)
    )
    return await digest_tally(session, period) if period else {}


async def latest_digest_period(session: AsyncSession, municipality_id: int) -> str | None:
    """The newest week a digest of this municipality was planned for (2026-W47), if any."""
    return await session.scalar(
        select(func.max(DigestDelivery.period)).where(
            DigestDelivery.municipality_id == municipality_id
        )
    )
