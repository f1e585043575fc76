"""Notices: messages to a person that are not answers, written in the transaction that causes
them and sent afterwards (bot/channels/notices.py).

Sending is at least once. A worker claims a notice for LEASE before sending it and settles
it after; a worker that died in between leaves a claim that expires, and the notice is sent
again by whoever looks next. Two live workers never both hold one.

Notices about one wish ("reference" among their values) reach a person in the order they
were written: one is not claimed while an older one about the same wish is held by a live
claim (two workers would otherwise send "in progress" and "done" side by side, and a rate
limit could let the older arrive last). One that comes free again after a newer one reached
the person (its worker died mid-send) is superseded, not sent: the resident must not read
"in progress" after "done".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Exists, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Notice, Person
from storage.signals import mark_notice

LEASE = timedelta(minutes=10)  # the sender gives a send up before it ends (bot/channels/notices.py)
ATTEMPTS = 5  # claims before a notice is given up (logged by the sender)


async def add_notice(
    session: AsyncSession, person_id: int, key: str, values: dict[str, object]
) -> None:
    session.add(Notice(person_id=person_id, key=key, values=values))
    mark_notice(session.sync_session)  # sent as soon as this commits (storage/signals.py)


def _free(now: datetime) -> ColumnElement[bool]:
    """Not sent, not given up, and not held by a live claim."""
    return (
        Notice.sent_at.is_(None)
        & (Notice.attempts < ATTEMPTS)
        & or_(Notice.claimed_at.is_(None), Notice.claimed_at < now - LEASE)
    )


async def unsent_notices(
    session: AsyncSession, channels: Sequence[str], limit: int, now: datetime
) -> Sequence[int]:
    """Notices to send to people on these channels (the ones that can send now)."""
    return (
        await session.scalars(
            select(Notice.id)
            .join(Person, Person.id == Notice.person_id)
            .where(_free(now), Person.channel.in_(channels))
            .order_by(Notice.id)
            .limit(limit)
        )
    ).all()


async def claim_notice(
    session: AsyncSession, notice_id: int, now: datetime
) -> tuple[Notice, Person] | None:
    """Hold a notice for LEASE to send it; None if another worker holds it or it is done."""
    # Two workers claiming two notices of one person take turns (the person's row is locked
    # until the claim commits on PostgreSQL): each then sees the other's claim, as the rule
    # on older notices needs. SQLite has one writer at a time anyway.
    owner = select(Notice.person_id).where(Notice.id == notice_id).scalar_subquery()
    await session.execute(select(Person.id).where(Person.id == owner).with_for_update())
    result = await session.execute(
        update(Notice)
        .where(Notice.id == notice_id, _free(now), ~_older_in_flight(now))
        .values(claimed_at=now, attempts=Notice.attempts + 1)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    row = (
        await session.execute(
            select(Notice, Person)
            .join(Person, Person.id == Notice.person_id)
            .where(Notice.id == notice_id)
        )
    ).first()
    if row is None:
        return None
    notice, person = row[0], row[1]
    if await _superseded(session, notice):
        notice.sent_at = now  # done with: a newer word on the same wish has gone already
        return None
    return notice, person


def _older_in_flight(now: datetime) -> Exists:
    """An older notice to the same person about the same wish, held by a live claim."""
    older = aliased(Notice)
    return exists().where(
        older.person_id == Notice.person_id,
        older.id < Notice.id,
        older.sent_at.is_(None),
        older.claimed_at >= now - LEASE,
        older.values["reference"].as_string() == Notice.values["reference"].as_string(),
    )


async def _superseded(session: AsyncSession, notice: Notice) -> bool:
    """Whether a newer notice about the same wish has already been sent to the person."""
    reference = notice.values.get("reference")
    if not isinstance(reference, str):
        return False
    newer = await session.scalar(
        select(Notice.id)
        .where(
            Notice.person_id == notice.person_id,
            Notice.id > notice.id,
            Notice.sent_at.is_not(None),
            Notice.values["reference"].as_string() == reference,
        )
        .limit(1)
    )
    return newer is not None


async def settle_notice(
    session: AsyncSession, notice_id: int, now: datetime, forget: bool = False
) -> None:
    """The notice is done with: sent, or nothing to send (the person opted out). `forget`:
    deleted rather than kept as sent (its row would say who answered a poll). Only notices
    about a wish ("reference") need the sent ones kept, for the ordering rules above."""
    if forget:
        await session.execute(delete(Notice).where(Notice.id == notice_id))
        return
    await session.execute(update(Notice).where(Notice.id == notice_id).values(sent_at=now))
