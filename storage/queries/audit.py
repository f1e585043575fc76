"""The audit log: what staff and deputies did (who, what, when, to what), for the operator's
`civicbot audit`. An entry is added in the transaction of the action it records, so that an
action rolled back leaves no entry and none is done without one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Role, utcnow

# The `action` column's words: answers and duplicates from every channel (handlers/answering.py;
# `via` names the channel), the rest from the console (bot/web/staff).
ACTIONS = ("login", "logout", "answer", "duplicate", "move_topic", "assign", "extend")


async def record(
    session: AsyncSession,
    *,
    person_id: int | None,
    municipality_id: int | None,
    via: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry to the caller's transaction (committed or rolled back with it)."""
    session.add(
        AuditEntry(
            at=utcnow(),
            person_id=person_id,
            municipality_id=municipality_id,
            via=via,
            action=action,
            subject=subject,
            detail=detail or {},
        )
    )


async def entries(
    session: AsyncSession,
    municipality_id: int | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> Sequence[tuple[AuditEntry, str | None]]:
    """The newest entries first, each with the role its person holds in the entry's
    municipality (staff before deputy; None when they hold none there any more)."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if municipality_id is not None:
        query = query.where(AuditEntry.municipality_id == municipality_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    found = (await session.scalars(query)).all()
    pairs = {(e.person_id, e.municipality_id) for e in found if e.person_id is not None}
    held: dict[tuple[int, int | None], str] = {}
    if pairs:
        rows = await session.execute(
            select(Role.person_id, Role.municipality_id, Role.role).where(
                Role.person_id.in_({person for person, _ in pairs}),
                Role.role.in_(("staff", "deputy")),
            )
        )
        for person, place, role in rows.all():
            if held.get((person, place)) != "staff":
                held[(person, place)] = role
    return [(e, held.get((e.person_id, e.municipality_id)) if e.person_id else None) for e in found]
