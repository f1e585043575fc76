"""Citizens' initiatives and their signatures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Initiative,
    Person,
    Signature,
)

# Built once: every signature runs these (composing a statement costs more than running it).
_BY_CODE = select(Initiative).where(Initiative.code == bindparam("code"))
_STANDING = select(Signature).where(
    Signature.initiative_id == bindparam("initiative_id"),
    Signature.pin_key.in_(bindparam("pin_keys", expanding=True)),
    Signature.status != "withdrawn",
)
_COUNT = (
    update(Initiative)
    .where(Initiative.id == bindparam("initiative_id"))
    .values(signed=Initiative.signed + bindparam("step"))
    .returning(Initiative.signed)
)


async def initiative_by_code(session: AsyncSession, code: str) -> Initiative | None:
    return await session.scalar(_BY_CODE, {"code": code.upper()})


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
    session: AsyncSession, initiative_id: int, pin_keys: Sequence[str]
) -> Sequence[Signature]:
    """Signatures that stand (counted or disputed) under this PIN's keyed hash: under any of
    `pin_keys`, the hashes by every known SECRET_KEY."""
    return (
        await session.scalars(
            _STANDING, {"initiative_id": initiative_id, "pin_keys": list(pin_keys)}
        )
    ).all()


async def add_signature(session: AsyncSession, signature: Signature) -> int:
    """Store a signature; for a counted one, the initiative's new count (else its count)."""
    session.add(signature)
    await session.flush()
    step = 1 if signature.status == "counted" else 0
    count = await session.scalar(_COUNT, {"initiative_id": signature.initiative_id, "step": step})
    assert count is not None  # the initiative exists: the signature refers to it
    return int(count)


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


async def sealed_signatures_after(
    session: AsyncSession, after_id: int, limit: int
) -> Sequence[tuple[Signature, str]]:
    """The next `limit` signatures that keep sealed data, with their initiative's code, in
    order of id (for re-keying them a batch at a time)."""
    rows = await session.execute(
        select(Signature, Initiative.code)
        .join(Initiative, Initiative.id == Signature.initiative_id)
        .where(Signature.id > after_id, Signature.sealed.is_not(None))
        .order_by(Signature.id)
        .limit(limit)
    )
    return [(signature, code) for signature, code in rows]
