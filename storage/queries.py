"""Every query the bot makes. Handlers and commands call these; none of them write SQL."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Base,
    BribeReport,
    Conversation,
    DigestDelivery,
    DigestPeriod,
    InboundDelivery,
    Initiative,
    Invite,
    Municipality,
    Notice,
    OutboundMessage,
    Person,
    Region,
    ReportQuota,
    Role,
    Signature,
    Wish,
    utcnow,
)

REFERENCE_DIGITS = 7


class DuplicateDelivery(Exception):
    """This inbound update was processed before."""


DELIVERY_MEMORY = timedelta(days=3)  # Telegram and Twilio stop redelivering within a day


async def claim_delivery(session: AsyncSession, delivery_key: str) -> None:
    """Record an inbound delivery (by its keyed hash) in the current transaction, or raise
    DuplicateDelivery.

    Because the row commits together with whatever the update changed, a crash before the
    commit leaves neither, and the redelivered update is processed afresh.
    """
    added = await _run_prebuilt(
        session, "claim_delivery", key=delivery_key, expires=utcnow() + DELIVERY_MEMORY
    )
    if added != 1:
        raise DuplicateDelivery(delivery_key)


async def keep_reply(session: AsyncSession, delivery_key: str, reply: str) -> None:
    """The answer given to a delivery, for a redelivery of it (SMS)."""
    await session.execute(
        update(InboundDelivery)
        .where(InboundDelivery.delivery_key == delivery_key)
        .values(reply=reply)
    )


async def delivery_reply(session: AsyncSession, delivery_key: str) -> str | None:
    return await session.scalar(
        select(InboundDelivery.reply).where(InboundDelivery.delivery_key == delivery_key)
    )


async def forget_expired(session: AsyncSession, now: datetime) -> None:
    """Drop de-duplication and quota rows that have served their time."""
    await session.execute(delete(InboundDelivery).where(InboundDelivery.expires_at < now))
    await session.execute(delete(ReportQuota).where(ReportQuota.expires_at < now))


# --- people and their conversations -------------------------------------------------------


# Built once: composing a statement costs more than running it on SQLite, and these two run
# for every inbound action.
_PERSON = select(Person).where(
    Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id")
)
_CONVERSATION = (
    select(Conversation)
    .where(Conversation.person_id == bindparam("person_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


_COUNT_QUOTA = (
    update(ReportQuota)
    .where(ReportQuota.quota_key == bindparam("key"), ReportQuota.count < bindparam("limit"))
    .values(count=ReportQuota.count + 1)
    .execution_options(synchronize_session=False)
)


def _inserts(dialect_insert: Any) -> dict[str, Any]:
    """The INSERT … ON CONFLICT DO NOTHING statements every update runs, for one dialect."""
    return {
        "claim_delivery": dialect_insert(InboundDelivery)
        .values(delivery_key=bindparam("key"), expires_at=bindparam("expires"))
        .on_conflict_do_nothing(),
        "add_quota": dialect_insert(ReportQuota)
        .values(quota_key=bindparam("key"), count=0, expires_at=bindparam("expires"))
        .on_conflict_do_nothing(),
    }


_INSERTS = {"sqlite": _inserts(sqlite_insert), "postgresql": _inserts(postgresql_insert)}


async def _run_prebuilt(session: AsyncSession, name: str, **values: Any) -> int:
    """Run one of those on the session's connection (plain Core, not the ORM's bulk path);
    rows inserted."""
    connection = await session.connection()
    statement = _INSERTS[connection.dialect.name][name]
    result = await connection.execute(statement, values)
    return max(int(result.rowcount), 0)


async def find_person(session: AsyncSession, channel: str, user_id: str) -> Person | None:
    return await session.scalar(_PERSON, {"channel": channel, "user_id": user_id})


async def ensure_person(
    session: AsyncSession, channel: str, user_id: str, language: str
) -> tuple[Person, bool]:
    """The person behind this channel's id, added if new; (person, whether added).

    INSERT … ON CONFLICT DO NOTHING, so that two first messages of one new sender handled at
    once (two workers, or two requests) both find the one row instead of one failing.
    """
    person = await find_person(session, channel, user_id)
    if person is not None:
        return person, False
    added = await insert_ignore(
        session,
        Person,
        [
            {
                "channel": channel,
                "channel_user_id": user_id,
                "language": language,
                "language_confirmed": False,
                "opted_out": False,
                "created_at": utcnow(),
            }
        ],
    )
    person = await find_person(session, channel, user_id)
    assert person is not None
    return person, added > 0


async def mark_opted_out(session: AsyncSession, channel: str, user_id: str) -> None:
    await session.execute(
        update(Person)
        .where(Person.channel == channel, Person.channel_user_id == user_id)
        .values(opted_out=True)
    )


async def conversation_of(session: AsyncSession, person: Person) -> Conversation:
    """The person's conversation row, locked until the transaction ends on PostgreSQL: one
    chat's updates are then handled one after another, whichever worker has them (SQLite
    has one writer at a time anyway). Added on the person's first message, race-free."""
    conversation = await _locked_conversation(session, person.id)
    if conversation is None:
        await insert_ignore(
            session, Conversation, [{"person_id": person.id, "step": None, "data": {}, "nonce": ""}]
        )
        conversation = await _locked_conversation(session, person.id)
    assert conversation is not None
    return conversation


async def _locked_conversation(session: AsyncSession, person_id: int) -> Conversation | None:
    return await session.scalar(_CONVERSATION, {"person_id": person_id})


async def forget_person(session: AsyncSession, person: Person) -> None:
    """Delete a person and what is theirs; what they reported stays, unlinked."""
    await session.execute(update(Wish).where(Wish.person_id == person.id).values(person_id=None))
    await session.execute(delete(Conversation).where(Conversation.person_id == person.id))
    await session.delete(person)
    await session.flush()


async def count_wishes_of(session: AsyncSession, person: Person) -> int:
    return int(
        await session.scalar(select(func.count(Wish.id)).where(Wish.person_id == person.id)) or 0
    )


# --- places -------------------------------------------------------------------------------


async def regions_with_municipalities(session: AsyncSession) -> Sequence[Region]:
    has_municipality = exists().where(Municipality.region_id == Region.id)
    return (
        await session.scalars(select(Region).where(has_municipality).order_by(Region.position))
    ).all()


async def region_by_key(session: AsyncSession, key: str) -> Region | None:
    return await session.scalar(select(Region).where(Region.key == key))


async def municipalities_in(session: AsyncSession, region: Region) -> Sequence[Municipality]:
    return (
        await session.scalars(
            select(Municipality)
            .where(Municipality.region_id == region.id)
            .order_by(Municipality.code)
        )
    ).all()


async def municipality_by_key(session: AsyncSession, key: str) -> Municipality | None:
    return await session.scalar(select(Municipality).where(Municipality.key == key.lower()))


async def municipality_by_key_or_code(session: AsyncSession, value: str) -> Municipality | None:
    """What a resident types for a place: its key (naryn_city) or its short code (101)."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        if len(value) > 9:  # beyond any code, and beyond the database's integers
            return None
        return await session.scalar(select(Municipality).where(Municipality.code == int(value)))
    return await municipality_by_key(session, value)


async def attach_unplaced_wishes(
    session: AsyncSession, person: Person, municipality: Municipality
) -> None:
    """Wishes sent before the resident named their place go to the place they name."""
    await session.execute(
        update(Wish)
        .where(Wish.person_id == person.id, Wish.municipality_id.is_(None))
        .values(municipality_id=municipality.id)
    )


async def all_municipalities(session: AsyncSession) -> Sequence[Municipality]:
    return (await session.scalars(select(Municipality).order_by(Municipality.code))).all()


# --- wishes -------------------------------------------------------------------------------


async def _unused_reference(session: AsyncSession, model: type[Wish] | type[BribeReport]) -> str:
    """A random reference number not yet used in the model's table. Digits only: residents
    read it aloud and type it on Cyrillic or push-button keypads."""
    while True:
        low, high = 10 ** (REFERENCE_DIGITS - 1), 10**REFERENCE_DIGITS
        reference = str(low + secrets.randbelow(high - low))
        if not await session.scalar(select(exists().where(model.reference == reference))):
            return reference


async def add_wish(
    session: AsyncSession,
    *,
    kind: str,
    category: str,
    text: str,
    municipality_id: int | None,
    channel: str,
    person_id: int | None,
) -> Wish:
    wish = Wish(
        reference=await _unused_reference(session, Wish),
        kind=kind,
        category=category,
        text=text,
        municipality_id=municipality_id,
        channel=channel,
        person_id=person_id,
    )
    session.add(wish)
    await session.flush()
    return wish


async def wishes_for_export(
    session: AsyncSession, municipality: Municipality | None = None
) -> Sequence[Wish]:
    query = select(Wish).order_by(Wish.created_at, Wish.id)
    if municipality is not None:
        query = query.where(Wish.municipality_id == municipality.id)
    return (await session.scalars(query)).all()


# --- totals for /metrics --------------------------------------------------------------------


async def count_wishes_by_kind(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Wish.kind, func.count(Wish.id)).group_by(Wish.kind))
    return {kind: int(count) for kind, count in rows.all()}


async def count_people_by_channel(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Person.channel, func.count(Person.id)).group_by(Person.channel)
    )
    return {channel: int(count) for channel, count in rows.all()}


# --- outbound messages ----------------------------------------------------------------------


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


async def mark_person_opted_out(session: AsyncSession, person_id: int) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(opted_out=True))


# --- bribe reports -------------------------------------------------------------------------------


async def quota_used(session: AsyncSession, quota_key: str) -> int:
    quota = await session.get(ReportQuota, quota_key)
    return quota.count if quota is not None else 0


async def count_towards_quota(
    session: AsyncSession, quota_key: str, limit: int, expires_at: datetime
) -> bool:
    """Count one more under this key; False (and nothing counted) at the limit. One
    conditional UPDATE, so that two messages counted at once never both slip under it."""
    await _run_prebuilt(session, "add_quota", key=quota_key, expires=expires_at)
    result = await session.execute(_COUNT_QUOTA, {"key": quota_key, "limit": limit})
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def add_bribe_report(
    session: AsyncSession,
    *,
    service: int,
    outcome: str,
    amount: int | None,
    month: str,
    municipality_id: int,
    channel: str,
    text: str | None,
    created_on: date,
) -> BribeReport:
    report = BribeReport(
        reference=await _unused_reference(session, BribeReport),
        service=service,
        outcome=outcome,
        amount=amount,
        month=month,
        municipality_id=municipality_id,
        channel=channel,
        text=text,
        created_on=created_on,
    )
    session.add(report)
    await session.flush()
    return report


async def clear_stale_drafts(session: AsyncSession, steps: Sequence[str], now: datetime) -> int:
    """Wipe drafts (of bribe reports) left at one of these steps past their expiry."""
    drafts = (await session.scalars(select(Conversation).where(Conversation.step.in_(steps)))).all()
    cleared = 0
    for conversation in drafts:
        expires = (conversation.data or {}).get("expires")
        if expires is None or datetime.fromisoformat(expires) < now:
            conversation.step, conversation.data, conversation.nonce = None, {}, ""
            cleared += 1
    return cleared


async def bribe_counts(
    session: AsyncSession, municipality_id: int, months: Sequence[str]
) -> list[tuple[int, str, str, int]]:
    """(service, outcome, month, number of reports) for a municipality and months."""
    rows = await session.execute(
        select(BribeReport.service, BribeReport.outcome, BribeReport.month, func.count())
        .where(BribeReport.municipality_id == municipality_id, BribeReport.month.in_(months))
        .group_by(BribeReport.service, BribeReport.outcome, BribeReport.month)
    )
    return [(int(s), str(o), str(m), int(n)) for s, o, m, n in rows.all()]


async def bribe_amounts(
    session: AsyncSession, municipality_id: int, months: Sequence[str]
) -> list[tuple[int, int]]:
    """(service, amount) of every report that gives an amount."""
    rows = await session.execute(
        select(BribeReport.service, BribeReport.amount).where(
            BribeReport.municipality_id == municipality_id,
            BribeReport.month.in_(months),
            BribeReport.amount.is_not(None),
        )
    )
    return [(int(s), int(a)) for s, a in rows.all()]


async def bribe_reports_for_export(
    session: AsyncSession, municipality: Municipality | None = None
) -> Sequence[BribeReport]:
    query = select(BribeReport).order_by(
        BribeReport.created_on, BribeReport.month, BribeReport.service, BribeReport.reference
    )
    if municipality is not None:
        query = query.where(BribeReport.municipality_id == municipality.id)
    return (await session.scalars(query)).all()


# --- initiatives and signatures ------------------------------------------------------------


async def initiative_by_code(session: AsyncSession, code: str) -> Initiative | None:
    return await session.scalar(select(Initiative).where(Initiative.code == code.upper()))


async def all_initiatives(session: AsyncSession) -> Sequence[Initiative]:
    return (
        await session.scalars(select(Initiative).order_by(Initiative.opens_on, Initiative.code))
    ).all()


async def open_initiatives(
    session: AsyncSession, municipality_id: int | None, today: date
) -> Sequence[Initiative]:
    """Initiatives a resident can sign today: national ones and their municipality's."""
    where_signable = or_(
        Initiative.municipality_id.is_(None), Initiative.municipality_id == municipality_id
    )
    return (
        await session.scalars(
            select(Initiative)
            .where(
                where_signable,
                Initiative.opens_on <= today,
                Initiative.closes_on >= today,
                Initiative.closed_on.is_(None),
            )
            .order_by(Initiative.closes_on, Initiative.code)
        )
    ).all()


async def signatures_by_pin(
    session: AsyncSession, initiative_id: int, pin_key: str
) -> Sequence[Signature]:
    """Signatures under this PIN that stand (counted or disputed)."""
    return (
        await session.scalars(
            select(Signature).where(
                Signature.initiative_id == initiative_id,
                Signature.pin_key == pin_key,
                Signature.status != "withdrawn",
            )
        )
    ).all()


async def add_signature(session: AsyncSession, signature: Signature) -> int:
    """Store a signature; for a counted one, the initiative's new count (else its count)."""
    session.add(signature)
    await session.flush()
    step = 1 if signature.status == "counted" else 0
    return int(
        await session.scalar(
            update(Initiative)
            .where(Initiative.id == signature.initiative_id)
            .values(signed=Initiative.signed + step)
            .returning(Initiative.signed)
        )
    )


async def reach_milestone(session: AsyncSession, initiative_id: int, milestone: int) -> bool:
    """Record that a milestone is reached; True only for the one call that records it."""
    result = await session.execute(
        update(Initiative)
        .where(Initiative.id == initiative_id, Initiative.milestone < milestone)
        .values(milestone=milestone)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def signature_counts(session: AsyncSession, initiative_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(Signature.status, func.count())
        .where(Signature.initiative_id == initiative_id)
        .group_by(Signature.status)
    )
    return {str(status): int(count) for status, count in rows.all()}


async def withdraw_signatures(session: AsyncSession, person: Person, today: date) -> int:
    """Withdraw a person's signatures to initiatives still collecting: the seal and the keyed
    hashes go, the row stays as "withdrawn". Signatures to closed initiatives stay as given
    (they may be with the verification group), only no longer linked to the person."""
    rows = (
        await session.execute(
            select(Signature, Initiative)
            .join(Initiative, Initiative.id == Signature.initiative_id)
            .where(
                Signature.person_id == person.id,
                Signature.status != "withdrawn",
                Initiative.closes_on >= today,
                Initiative.closed_on.is_(None),
            )
        )
    ).all()
    for signature, initiative in rows:
        if signature.status == "counted":
            initiative.signed = Initiative.signed - 1  # in SQL: safe beside a signing
        signature.status, signature.withdrawn_on = "withdrawn", today
        signature.sealed = signature.pin_key = signature.signer_key = None
    await session.execute(
        update(Signature).where(Signature.person_id == person.id).values(person_id=None)
    )
    return len(rows)


async def signatures_for_export(
    session: AsyncSession, initiative: Initiative
) -> Sequence[Signature]:
    return (
        await session.scalars(
            select(Signature).where(Signature.initiative_id == initiative.id).order_by(Signature.id)
        )
    ).all()


# --- roles, invites and notices ---------------------------------------------------------------


async def add_invite(session: AsyncSession, invite: Invite) -> Invite:
    session.add(invite)
    await session.flush()
    return invite


async def invite_by_code(session: AsyncSession, code: str) -> Invite | None:
    return await session.get(Invite, code.upper())


async def claim_invite(session: AsyncSession, code: str, now: datetime) -> bool:
    """Mark an invite redeemed; False if it was redeemed already (also by a racing request)."""
    result = await session.execute(
        update(Invite)
        .where(Invite.code == code, Invite.redeemed_at.is_(None), Invite.expires_at >= now)
        .values(redeemed_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def grant_role(
    session: AsyncSession,
    person: Person,
    role: str,
    municipality_id: int | None,
    initiative_id: int | None,
) -> None:
    same = and_(
        Role.person_id == person.id,
        Role.role == role,
        Role.municipality_id.is_not_distinct_from(municipality_id),
        Role.initiative_id.is_not_distinct_from(initiative_id),
    )
    if not await session.scalar(select(exists().where(same))):
        session.add(
            Role(
                person_id=person.id,
                role=role,
                municipality_id=municipality_id,
                initiative_id=initiative_id,
            )
        )
        await session.flush()


async def initiatives_led_by(session: AsyncSession, person: Person) -> Sequence[Initiative]:
    return (
        await session.scalars(
            select(Initiative)
            .join(Role, Role.initiative_id == Initiative.id)
            .where(Role.person_id == person.id, Role.role == "initiator")
            .order_by(Initiative.code)
        )
    ).all()


async def initiators_of(session: AsyncSession, initiative_id: int) -> Sequence[Person]:
    return (
        await session.scalars(
            select(Person)
            .join(Role, Role.person_id == Person.id)
            .where(Role.initiative_id == initiative_id, Role.role == "initiator")
            .order_by(Person.id)
        )
    ).all()


async def add_notice(
    session: AsyncSession, person_id: int, key: str, values: dict[str, object]
) -> None:
    session.add(Notice(person_id=person_id, key=key, values=values))


async def unsent_notices(
    session: AsyncSession, channels: Sequence[str], limit: int
) -> Sequence[int]:
    """Notices not sent yet to people on these channels (the ones that can send now)."""
    return (
        await session.scalars(
            select(Notice.id)
            .join(Person, Person.id == Notice.person_id)
            .where(Notice.sent_at.is_(None), Person.channel.in_(channels))
            .order_by(Notice.id)
            .limit(limit)
        )
    ).all()


async def claim_notice(
    session: AsyncSession, notice_id: int, now: datetime
) -> tuple[Notice, Person] | None:
    """Mark a notice sent before sending it, so that no two workers send it; None if another
    worker has it. (A crash between the claim and the send loses that one notice.)"""
    result = await session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.sent_at.is_(None)).values(sent_at=now)
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
    return (row[0], row[1]) if row is not None else None


# --- weekly digests -------------------------------------------------------------------------

OFFICIAL_ROLES = ("deputy", "staff")


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


async def answered_between(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime
) -> int:
    """Wishes that staff first answered in [start, end)."""
    return int(
        await session.scalar(
            select(func.count()).where(
                Wish.municipality_id == municipality_id,
                Wish.answered_at >= start,
                Wish.answered_at < end,
            )
        )
        or 0
    )


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


async def signatures_counted_between(
    session: AsyncSession, initiative_id: int, first: date, last: date
) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                Signature.initiative_id == initiative_id,
                Signature.status == "counted",
                Signature.signed_on >= first,
                Signature.signed_on <= last,
            )
        )
        or 0
    )


async def officials(session: AsyncSession, municipality_id: int | None = None) -> Sequence[Role]:
    """Deputies' and staff members' roles, with their people, by municipality."""
    query = (
        select(Role)
        .options(selectinload(Role.person))
        .where(Role.role.in_(OFFICIAL_ROLES))
        .order_by(Role.municipality_id, Role.role, Role.id)
    )
    if municipality_id is not None:
        query = query.where(Role.municipality_id == municipality_id)
    return (await session.scalars(query)).all()


async def official_places(session: AsyncSession, person: Person) -> list[tuple[str, Municipality]]:
    """(role, municipality) for each place this person is a deputy or staff member of."""
    rows = await session.execute(
        select(Role.role, Municipality)
        .join(Municipality, Municipality.id == Role.municipality_id)
        .where(Role.person_id == person.id, Role.role.in_(OFFICIAL_ROLES))
        .order_by(Role.id)
    )
    return [(str(role), municipality) for role, municipality in rows.all()]


async def remove_role(session: AsyncSession, role_id: int) -> Role | None:
    role = await session.get(Role, role_id, options=[selectinload(Role.person)])
    if role is not None:
        await session.delete(role)
    return role


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


async def insert_ignore(
    session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, object]]
) -> int:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike; rows inserted. The
    race-free half of every "find or add"."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(insert(model).values(list(rows)).on_conflict_do_nothing())
    return max(int(result.rowcount), 0)  # type: ignore[attr-defined]


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
