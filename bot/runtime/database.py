"""The database and the photo store as every command opens them: no channel, no web server
(so that the operator's commands that do not send load neither)."""

from __future__ import annotations

import logging

from bot.runtime.config import Settings
from storage.db import Database, migrate_if_behind
from storage.files import FileStore, FolderStore
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
    return FolderStore(settings.media_folder())


async def prepare_database(settings: Settings) -> Database:
    """Apply migrations and seed the starter municipalities; the database is then ready."""
    db = Database(settings.database_url)
    try:
        await migrate_if_behind(db)
        async with db.session() as session, session.begin():
            added = await seed_places(session)
    except BaseException:
        await db.close()
        raise
    if added:
        log.info("seeded %d regions and municipalities", added)
    return db
