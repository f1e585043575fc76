"""Inbound deliveries already handled (de-duplication), and messages we sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    InboundDelivery,
    OutboundMessage,
    Person,
    ReportQuota,
    utcnow,
)
from storage.queries.common import per_dialect


class DuplicateDelivery(Exception):
    """This inbound update was processed before."""


NOTE_LENGTH = 64  # OutboundMessage.note
DELIVERY_MEMORY = timedelta(days=3)  # Telegram and Twilio stop redelivering within a day

_CLAIM = per_dialect(
    lambda insert: (
        insert(InboundDelivery)
        .values(
            delivery_key=bindparam("key"), expires_at=bindparam("expires"), reply=bindparam("reply")
        )
        .on_conflict_do_nothing()
    )
)


async def claim_delivery(session: AsyncSession, delivery_key: str, reply: str | None) -> None:
    """Record an inbound delivery (by its keyed hash) and the answer kept for a redelivery of
    it, in the current transaction; or raise DuplicateDelivery.

    Because the row commits together with whatever the update changed, a crash before the
    commit leaves neither, and the redelivered update is processed afresh.
    """
    added = await _CLAIM.run(
        session, key=delivery_key, expires=utcnow() + DELIVERY_MEMORY, reply=reply
    )
    if added.rowcount != 1:
        raise DuplicateDelivery(delivery_key)


async def delivery_reply(session: AsyncSession, delivery_keys: Sequence[str]) -> str | None:
    """The answer kept for a delivery known under any of these keys ("" when none was kept);
    None when it was never handled."""
    reply = await session.execute(
        select(InboundDelivery.reply).where(InboundDelivery.delivery_key.in_(delivery_keys))
    )
    row = reply.first()
    return None if row is None else (row[0] or "")


async def forget_expired(session: AsyncSession, now: datetime) -> None:
    """Drop de-duplication and quota rows that have served their time."""
    await session.execute(delete(InboundDelivery).where(InboundDelivery.expires_at < now))
    await session.execute(delete(ReportQuota).where(ReportQuota.expires_at < now))


async def outbound_by_provider_id(
    session: AsyncSession, provider: str, provider_id: str
) -> OutboundMessage | None:
    if not provider_id:
        return None
    return await session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.provider == provider, OutboundMessage.provider_id == provider_id
        )
    )


async def record_failed_send(
    session: AsyncSession, channel: str, user_id: str, reason: str
) -> None:
    """A message to this person that was given up, kept as a failed outbound record (no
    text): what staff and `civicbot` see of a message that did not reach someone."""
    person_id = await session.scalar(
        select(Person.id).where(Person.channel == channel, Person.channel_user_id == user_id)
    )
    session.add(
        OutboundMessage(
            provider=channel,
            person_id=person_id,
            channel=channel,
            status="failed",
            note=reason[:NOTE_LENGTH],
        )
    )
