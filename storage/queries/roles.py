"""Roles, invites, officials and the notices sent to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Initiative,
    Invite,
    Municipality,
    Notice,
    Person,
    Role,
)

OFFICIAL_ROLES = ("deputy", "staff")


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


async def officials_before(session: AsyncSession, moment: datetime) -> bool:
    """Whether anyone was a deputy or staff member at `moment`."""
    earlier = exists().where(Role.role.in_(OFFICIAL_ROLES), Role.created_at < moment)
    return bool(await session.scalar(select(earlier)))


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


async def organizer_places(
    session: AsyncSession, person: Person, roles: Sequence[str] = ("organizer",)
) -> list[Municipality]:
    """The municipalities this person organizes campaigns in (or, with `roles`, also
    types cards for as a volunteer)."""
    rows = await session.scalars(
        select(Municipality)
        .join(Role, Role.municipality_id == Municipality.id)
        .where(Role.person_id == person.id, Role.role.in_(roles))
        .order_by(Municipality.code)
        .distinct()
    )
    return list(rows.all())


async def remove_role(session: AsyncSession, role_id: int) -> Role | None:
    role = await session.get(Role, role_id, options=[selectinload(Role.person)])
    if role is not None:
        await session.delete(role)
    return role
