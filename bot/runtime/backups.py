"""Backups as the settings place things (storage/backup.py does the work): what an archive
holds for these settings, and the archive taken before migrations change the schema."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.runtime.build import version
from bot.runtime.config import Settings
from storage.backup import BackupError, Sources, premigrate_archive
from storage.db import newest_revision

log = logging.getLogger(__name__)

BACKUP_FOLDER = "backups"  # `civicbot backup`'s default, and beside an SQLite file


def sources(
    settings: Settings, include_environment_keys: bool = False, include_key_file: bool = True
) -> Sources:
    key_file = None if settings.secret_key else settings.secret_file()
    # Settings read the keys (and would make a key file): only when there are some.
    made = bool(settings.secret_key) or (key_file is not None and key_file.exists())
    bucket = None
    if settings.media_s3_bucket:
        bucket = {"bucket": settings.media_s3_bucket}
        if settings.media_s3_endpoint:
            bucket["endpoint"] = settings.media_s3_endpoint
    return Sources(
        database_url=settings.database_url,
        key_file=key_file,
        keys=settings.secret_keys() if made else (),
        keys_from_environment=bool(settings.secret_key),
        include_environment_keys=include_environment_keys,
        media_folder=None if settings.media_s3_bucket else settings.media_folder(),
        bucket=bucket,
        version=version(),
        include_key_file=include_key_file,
        file_mode=settings.file_permissions(),
    )


def automatic_folder(settings: Settings) -> Path:
    """SQLite's: beside the database (under systemd /var/lib/civicbot/backups, where
    `civicbot backup` writes too), whatever folder the command was started in. PostgreSQL's
    (`db upgrade|downgrade` only): `civicbot backup`'s default, ./backups."""
    what = sources(settings)
    if what.sqlite_file is not None:
        return what.sqlite_file.parent / BACKUP_FOLDER
    return Path(BACKUP_FOLDER).resolve()


async def before_migrating(
    settings: Settings, current: str | None, target: str | None = None, on_purpose: bool = False
) -> Path | None:
    """An archive of the database as it is (photos left out), when migrations are about to
    change it from `current` (already checked not newer than this code) to `target` (default
    the newest); its path. None for a new database, when nothing is to be applied, and for
    PostgreSQL at a start (its operator's `pg_dump` schedule; a dump of a large database would
    hold a start for long); `on_purpose` (`db upgrade|downgrade`) archives PostgreSQL too.
    Raises BackupError, and nothing is migrated, when the archive cannot be written."""
    target = target or newest_revision()
    if current is None or target is None or current == target:
        return None
    if not settings.is_sqlite and not on_purpose:
        return None
    folder = automatic_folder(settings)
    try:
        what = sources(settings)
        path = await asyncio.to_thread(premigrate_archive, what, folder, current, target)
    except BackupError as error:
        raise BackupError(f"{error}; nothing was migrated") from None
    log.info("the database as it was before migrating from %s is in %s", current, path)
    return path
