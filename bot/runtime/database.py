"""The database and the photo store as every command opens them: no channel, no web server
(so that the operator's commands that do not send load neither)."""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url

from bot.runtime.backups import before_migrating
from bot.runtime.config import ConfigError, Settings
from storage.db import Database, migrate_if_behind, sqlite_path
from storage.files import FileStore, FolderStore, create_empty
from storage.s3 import Bucket, S3Store
from storage.seed import seed_places

log = logging.getLogger(__name__)


def file_store(settings: Settings) -> FileStore:
    """Where residents' photos are kept: MEDIA_S3_BUCKET, else the folder (MEDIA_DIR)."""
    if settings.media_s3_bucket:
        bucket = Bucket(
            name=settings.media_s3_bucket,
            endpoint_url=settings.media_s3_endpoint,
            region=settings.media_s3_region,
            access_key_id=settings.media_s3_access_key_id,
            secret_access_key=settings.media_s3_secret_access_key,
        )
        return S3Store(bucket)
    return FolderStore(settings.media_folder(), settings.file_permissions())


def location(settings: Settings) -> str:
    """Where the database is, as the operator reads it: an SQLite file's absolute path, or
    the URL without its password."""
    path = sqlite_path(settings.database_url)
    if path is not None:
        return str(path)
    return make_url(settings.database_url).render_as_string(hide_password=True)


def require_existing(settings: Settings) -> None:
    """Refuse to make a new database where none was asked for: the default one (./civicbot.db,
    DATABASE_URL unset) that is not in the folder a command runs in. `civicbot serve` and
    `civicbot db init` make it; so does a command given DATABASE_URL (the path from settings)."""
    if "database_url" in settings.model_fields_set:
        return
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no database at {path}: run civicbot in the folder the bot runs in, set "
            "DATABASE_URL, or make one here with `civicbot db init`"
        )


def opened(settings: Settings) -> Database:
    """The database DATABASE_URL names; a new SQLite file is made FILE_MODE first (SQLite
    would make it as the umask says)."""
    path = sqlite_path(settings.database_url)
    if path is not None:
        create_empty(path, settings.file_permissions())
    return Database(settings.database_url, settings.database_pool_size)


async def prepare_database(settings: Settings) -> Database:
    """Apply migrations and seed the starter municipalities; the database is then ready."""
    db = opened(settings)
    try:
        # SQLite: an archive first, if it will change.
        await migrate_if_behind(db, lambda current: before_migrating(settings, current))
        async with db.session() as session, session.begin():
            added = await seed_places(session)
    except BaseException:
        await db.close()
        raise
    if added:
        log.info("seeded %d regions and municipalities", added)
    return db


async def initialise(settings: Settings) -> tuple[Database, bool]:
    """`civicbot db init`: the database made ready, created if need be; and whether it had
    no schema before (a new database)."""
    probe = opened(settings)
    try:
        new = await probe.schema_revision() is None
    finally:
        await probe.close()
    return await prepare_database(settings), new
