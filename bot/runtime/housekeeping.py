"""Wiping what must not outlive its use: de-duplication and quota rows past their expiry, the
drafts of bribe reports, signatures and keyword-less SMS texts a resident walked away from,
the console's expired links and ended sessions, and photo files no wish holds (a wish
abandoned while written, a commit that failed after its file was written, a /forget whose
deletion was cut short). Runs at start and then every INTERVAL seconds as a job of the
scheduler (bot/digests/schedule.py)."""

from __future__ import annotations

import logging

from handlers import appeals, bribes, console_links, free_text, signatures
from storage import queries
from storage.db import Database
from storage.files import FileStore
from storage.models import utcnow
from storage.queries import console

INTERVAL = 600.0  # seconds
ORPHAN_AGE = 2 * 86400.0  # seconds: a file no one holds after this long is deleted
DRAFT_STEPS = (*bribes.STEPS, *signatures.STEPS, *free_text.STEPS, *appeals.STEPS)

log = logging.getLogger(__name__)


async def sweep(db: Database, files: FileStore | None = None) -> int:
    """One pass; the number of drafts wiped."""
    now = utcnow()
    async with db.session() as session, session.begin():
        await queries.forget_expired(session, now)
        wiped = await queries.clear_stale_drafts(session, DRAFT_STEPS, now)
        await console.sweep(
            session, now, console_links.SESSION_IDLE, console_links.SESSION_LIFETIME
        )
    if files is not None:
        await sweep_files(db, files)
    return wiped


async def sweep_files(db: Database, files: FileStore, age: float = ORPHAN_AGE) -> list[str]:
    """Delete the photo files older than `age` that no wish, nor a wish being written,
    holds; their keys. (Old enough that a file written just before its commit is never
    taken for an orphan.)"""
    old = await files.older_than(age)
    if not old:
        return []
    async with db.session() as session:
        held = await queries.referenced(session, old)
    orphans = [key for key in old if key not in held]
    for key in orphans:
        await files.delete(key)
    if orphans:
        log.info("deleted %d photo files no wish holds", len(orphans))
    return orphans
