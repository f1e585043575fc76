"""Pieces every query module uses: race-free inserts and the statements built once."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam, exists, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Base,
    BribeReport,
    InboundDelivery,
    ReportQuota,
    Wish,
)

REFERENCE_DIGITS = 7


def _inserts(dialect_insert: Any) -> dict[str, Any]:
    """The INSERT … ON CONFLICT DO NOTHING statements every update runs, for one dialect."""
    return {
        "claim_delivery": dialect_insert(InboundDelivery)
        .values(
            delivery_key=bindparam("key"), expires_at=bindparam("expires"), reply=bindparam("reply")
        )
        .on_conflict_do_nothing(),
        # One more under a quota key: a new key starts at 1; an existing one goes up only
        # while under the limit (no row changed: the limit is reached).
        "count_quota": dialect_insert(ReportQuota)
        .values(quota_key=bindparam("key"), count=1, expires_at=bindparam("expires"))
        .on_conflict_do_update(
            index_elements=[ReportQuota.quota_key],
            set_={"count": ReportQuota.count + 1},
            where=ReportQuota.count < bindparam("limit"),
        ),
    }


_INSERTS = {"sqlite": _inserts(sqlite_insert), "postgresql": _inserts(postgresql_insert)}


async def run_prebuilt(session: AsyncSession, name: str, **values: Any) -> int:
    """Run one of those on the session's connection (plain Core, not the ORM's bulk path);
    rows inserted."""
    connection = await session.connection()
    statement = _INSERTS[connection.dialect.name][name]
    result = await connection.execute(statement, values)
    return max(int(result.rowcount), 0)


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


async def unused_reference(session: AsyncSession, model: type[Wish] | type[BribeReport]) -> str:
    """A random reference number not yet used in the model's table. Digits only: residents
    read it aloud and type it on Cyrillic or push-button keypads."""
    while True:
        low, high = 10 ** (REFERENCE_DIGITS - 1), 10**REFERENCE_DIGITS
        reference = str(low + secrets.randbelow(high - low))
        if not await session.scalar(select(exists().where(model.reference == reference))):
            return reference


Referenced = TypeVar("Referenced", Wish, BribeReport)


async def add_referenced(session: AsyncSession, row: Referenced) -> Referenced:
    """Store a wish or a report under a reference number not used before."""
    row.reference = await unused_reference(session, type(row))
    session.add(row)
    await session.flush()
    return row
