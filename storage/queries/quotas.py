"""Counting towards a sender's limits under keyed hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ReportQuota,
)
from storage.prebuilt import Prebuilt
from storage.queries.common import per_dialect

# One more under a quota key: a new key starts at 1; an existing one goes up only while under
# the limit (no row changed: the limit is reached).
_COUNT = per_dialect(
    lambda insert: (
        insert(ReportQuota)
        .values(quota_key=bindparam("key"), count=1, expires_at=bindparam("expires"))
        .on_conflict_do_update(
            index_elements=[ReportQuota.quota_key],
            set_={"count": ReportQuota.count + 1},
            where=ReportQuota.count < bindparam("limit"),
        )
    )
)


_USED = Prebuilt(select(ReportQuota.count).where(ReportQuota.quota_key == bindparam("key")))


async def quota_used(session: AsyncSession, quota_key: str) -> int:
    """The count under a key, as the database has it now: counts change by statement
    (`_COUNT`), so an object the session holds from earlier in a batch could be stale."""
    return int((await _USED.run(session, key=quota_key)).scalar() or 0)


async def count_towards_quota(
    session: AsyncSession, quota_key: str, limit: int, expires_at: datetime
) -> bool:
    """Count one more under this key; False (and nothing counted) at the limit. One
    INSERT … ON CONFLICT DO UPDATE … WHERE count < limit, so that two messages counted at
    once never both slip under it. (`limit` is at least 1.)"""
    counted = await _COUNT.run(session, key=quota_key, expires=expires_at, limit=limit)
    return counted.rowcount == 1
