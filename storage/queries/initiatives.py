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
from storage.prebuilt import Prebuilt
from storage.queries.common import per_dialect
from storage.queries.loaded import got, keep

SIGNATURE_COLUMNS = (
    "initiative_id",
    "pin_key",
    "signer_key",
    "status",
    "sealed",
    "pin_note",
    "channel",
    "signed_on",
    "person_id",
)

_BY_CODE = select(Initiative).where(Initiative.code == bindparam("code"))
# Every signature runs these (storage/prebuilt.py).
_STANDING = Prebuilt(
    select(Signature.signer_key).where(
        Signature.initiative_id == bindparam("initiative_id"),
        Signature.pin_key == bindparam("pin_key"),
        Signature.status != "withdrawn",
    )
)
# ON CONFLICT DO NOTHING: a second counted signature of one PIN (another worker's, at the
# same moment) meets the partial unique index and is not added, without a SAVEPOINT.
_ADD = per_dialect(
    lambda insert: (
        insert(Signature)
        .values({name: bindparam(name) for name in SIGNATURE_COLUMNS})
        .on_conflict_do_nothing()
    )
)
_COUNT = Prebuilt(
    update(Initiative)
    .where(Initiative.id == bindparam("initiative_id"))
    .values(signed=Initiative.signed + 1)
    .returning(Initiative.signed)
)
_MILESTONE = Prebuilt(
    update(Initiative)
    .where(Initiative.id == bindparam("initiative_id"), Initiative.milestone < bindparam("step"))
    .values(milestone=bindparam("step"))
)


async def initiative_by_code(session: AsyncSession, code: str) -> Initiative | None:
    """The initiative under this code. Read once per session: SQLite's inbound actions share
    one (storage/writer.py), and a signing wave names one initiative again and again. The
    session keeps the object (`keep`), and `got` takes it from there without SQL, or reloads
    it if a rolled-back action expired it."""
    code = code.upper()
    known: dict[str, int] = session.info.setdefault("initiatives", {})
    if code in known:  # the id kept apart: an expired object's own would be read with SQL
        return await got(session, Initiative, known[code])
    initiative = await session.scalar(_BY_CODE, {"code": code})
    if initiative is not None:
        known[code] = initiative.id
        keep(session, initiative)
    return initiative


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


async def signer_keys_by_pin(
    session: AsyncSession, initiative_id: int, pin_keys: Sequence[str]
) -> list[str | None]:
    """The signer keys of the signatures that stand (counted or disputed) under this PIN's
    keyed hash: under any of `pin_keys`, the hashes by every known SECRET_KEY."""
    found: list[str | None] = []
    for pin_key in pin_keys:  # one, or two while a key is being rotated out
        standing = await _STANDING.run(session, initiative_id=initiative_id, pin_key=pin_key)
        found.extend(signer_key for (signer_key,) in standing.rows)
    return found


async def add_signature(session: AsyncSession, values: dict[str, object]) -> bool:
    """Store a signature (`values`: SIGNATURE_COLUMNS); False if it was not added: a counted
    signature of this PIN was added meanwhile (look again: this one is then disputed)."""
    return (await _ADD.run(session, **values)).rowcount == 1


async def count_signature(session: AsyncSession, initiative_id: int) -> int:
    """One more counted signature to the initiative; its count after it."""
    count = (await _COUNT.run(session, initiative_id=initiative_id)).scalar()
    assert count is not None  # the initiative exists: the signature refers to it
    return int(count)


async def reach_milestone(session: AsyncSession, initiative_id: int, milestone: int) -> bool:
    """Record that a milestone is reached; True only for the one call that records it."""
    reached = await _MILESTONE.run(session, initiative_id=initiative_id, step=milestone)
    return reached.rowcount == 1


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
