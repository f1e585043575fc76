"""Counting towards a sender's limits under keyed hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ReportQuota,
)
from storage.queries.common import run_prebuilt


async def quota_used(session: AsyncSession, quota_key: str) -> int:
    quota = await session.get(ReportQuota, quota_key)
    return quota.count if quota is not None else 0


async def count_towards_quota(
    session: AsyncSession, quota_key: str, limit: int, expires_at: datetime
) -> bool:
    """Count one more under this key; False (and nothing counted) at the limit. One
    INSERT … ON CONFLICT DO UPDATE … WHERE count < limit, so that two messages counted at
    once never both slip under it. (`limit` is at least 1.)"""
    changed = await run_prebuilt(
        session, "count_quota", key=quota_key, expires=expires_at, limit=limit
    )
    return changed == 1
