"""Wiping what must not outlive its use: de-duplication and quota rows past their expiry, and
the drafts of bribe reports and signatures a resident walked away from. Runs at start and
then every INTERVAL seconds as a job of the scheduler (bot/digests/schedule.py)."""

from __future__ import annotations

import logging

from handlers import bribes, signatures
from storage import queries
from storage.db import Database
from storage.models import utcnow

INTERVAL = 600.0  # seconds
DRAFT_STEPS = (*bribes.STEPS, *signatures.STEPS)

log = logging.getLogger(__name__)


async def sweep(db: Database) -> int:
    """One pass; the number of drafts wiped."""
    now = utcnow()
    async with db.session() as session, session.begin():
        await queries.forget_expired(session, now)
        return await queries.clear_stale_drafts(session, DRAFT_STEPS, now)
