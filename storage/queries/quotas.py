"""Counting towards a sender's limits under keyed hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ReportQuota,
)
from storage.queries.common import run_prebuilt

_COUNT_QUOTA = (
    update(ReportQuota)
    .where(ReportQuota.quota_key == bindparam("key"), ReportQuota.count < bindparam("limit"))
    .values(count=ReportQuota.count + 1)
    .execution_options(synchronize_session=False)
)


async def quota_used(session: AsyncSession, quota_key: str) -> int:
    quota = await session.get(ReportQuota, quota_key)
    return quota.count if quota is not None else 0


async def count_towards_quota(
    session: AsyncSession, quota_key: str, limit: int, expires_at: datetime
) -> bool:
    """Count one more under this key; False (and nothing counted) at the limit. One
    conditional UPDATE, so that two messages counted at once never both slip under it."""
    await run_prebuilt(session, "add_quota", key=quota_key, expires=expires_at)
    result = await session.execute(_COUNT_QUOTA, {"key": quota_key, "limit": limit})
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
