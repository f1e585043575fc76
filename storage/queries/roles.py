"""Roles, invites and officials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Initiative,
    Invite,
    Municipality,
    Person,
    Role,
)
from storage.prebuilt import Prebuilt, flush_pending

OFFICIAL_ROLES = ("deputy", "staff")
# Read for a person's menu (after the language choice, an invite) and /help: prebuilt, not
# through the ORM (about 5 % of a worker's CPU under bench/ingest.py, through it).
_ROLES_OF = Prebuilt(select(Role.role).where(Role.person_id == bindparam("person_id")).distinct())


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


async def roles_of(session: AsyncSession, person: Person) -> set[str]:
    """The roles this person holds anywhere (deputy, staff, organizer, volunteer, initiator),
    those given earlier in the same action included."""
    await flush_pending(session)  # as the ORM's autoflush would, for a role just added
    return {str(role) for (role,) in (await _ROLES_OF.run(session, person_id=person.id)).rows}


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
