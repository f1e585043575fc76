"""Backups as the settings place things (storage/backup.py does the work): what an archive
holds for these settings, and the archive taken before migrations change an SQLite file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.runtime.build import version
from bot.runtime.config import Settings
from storage.backup import Sources, create_archive
from storage.db import Database, newest_revision, refuse_newer

log = logging.getLogger(__name__)

BACKUP_FOLDER = "backups"  # `civicbot backup`'s default, and beside an SQLite file


def sources(settings: Settings, include_environment_keys: bool = False) -> Sources:
    environment_keys = (
        (settings.secret_key, *settings.secret_key_previous) if settings.secret_key else ()
    )
    bucket = None
    if settings.media_s3_bucket:
        bucket = {"bucket": settings.media_s3_bucket}
        if settings.media_s3_endpoint:
            bucket["endpoint"] = settings.media_s3_endpoint
    return Sources(
        database_url=settings.database_url,
        key_file=None if settings.secret_key else settings.secret_file(),
        environment_keys=environment_keys,
        include_environment_keys=include_environment_keys,
        media_folder=None if settings.media_s3_bucket else settings.media_folder(),
        bucket=bucket,
        version=version(),
    )


def automatic_folder(sqlite_file: Path) -> Path:
    """Beside the database (under systemd /var/lib/civicbot/backups, where `civicbot backup`
    writes too), whatever folder the command was started in."""
    return sqlite_file.parent / BACKUP_FOLDER


async def before_migrating(
    settings: Settings, db: Database, target: str | None = None
) -> Path | None:
    """On SQLite, an archive of the database as it is, when migrations are about to change it
    (to `target`, default the newest); its path. None for PostgreSQL (its operator's
    `pg_dump` schedule; a dump of a large database would hold a start for long), for a new
    database, or when nothing is to be applied. Refuses a schema newer than this code."""
    current = await db.schema_revision()
    refuse_newer(current)
    if not settings.is_sqlite or current is None or current == (target or newest_revision()):
        return None
    what = sources(settings)
    assert what.sqlite_file is not None
    path = await asyncio.to_thread(create_archive, what, automatic_folder(what.sqlite_file))
    log.info("backed up to %s before migrating from %s", path, current)
    return path
