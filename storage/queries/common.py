"""Pieces every query module uses: race-free inserts, statements per dialect, references."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Base,
    BribeReport,
    Wish,
)
from storage.prebuilt import Prebuilt

REFERENCE_DIGITS = 7


def per_dialect(build: Callable[[Any], Executable]) -> Prebuilt:
    """A statement written with each dialect's own `insert` (for ON CONFLICT), built once."""
    return Prebuilt({"sqlite": build(sqlite_insert), "postgresql": build(postgresql_insert)})


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


_TAKEN = {
    model: Prebuilt(select(model.id).where(model.reference == bindparam("reference")).limit(1))
    for model in (Wish, BribeReport)
}


async def unused_reference(session: AsyncSession, model: type[Wish] | type[BribeReport]) -> str:
    """A random reference number not yet used in the model's table. Digits only: residents
    read it aloud and type it on Cyrillic or push-button keypads."""
    while True:
        low, high = 10 ** (REFERENCE_DIGITS - 1), 10**REFERENCE_DIGITS
        reference = str(low + secrets.randbelow(high - low))
        if not (await _TAKEN[model].run(session, reference=reference)).rows:
            return reference


Referenced = TypeVar("Referenced", Wish, BribeReport)


async def add_referenced(session: AsyncSession, row: Referenced) -> Referenced:
    """Store a wish or a report under a reference number not used before."""
    row.reference = await unused_reference(session, type(row))
    session.add(row)
    await session.flush()
    return row
