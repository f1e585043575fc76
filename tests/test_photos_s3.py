"""Photos in an S3-compatible bucket (MEDIA_S3_BUCKET), against moto's S3 server on
127.0.0.1 — the real S3 HTTP API, as MinIO or a provider would answer it."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from bot.runtime import housekeeping
from storage.db import Database
from storage.models import WishPhoto
from storage.s3 import PREFIX, Bucket, S3Store
from tests.conftest import Say, StartBot, rows
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.test_photos import jpeg_with_gps, placed_resident

BUCKET = "civicbot-photos"
CREDENTIALS = {"access_key_id": "test-key-id", "secret_access_key": "test-secret-not-real"}


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
async def bucket(s3_endpoint: str) -> AsyncIterator[S3Store]:
    """The bucket, made as an operator would before the first start; our store on it."""
    store = S3Store(Bucket(BUCKET, endpoint_url=s3_endpoint, **CREDENTIALS))
    s3 = await store._s3()
    await s3.create_bucket(Bucket=BUCKET)
    yield store
    await store.close()


async def objects(store: S3Store) -> list[str]:
    s3 = await store._s3()
    listed = await s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
    return [str(entry["Key"]) for entry in listed.get("Contents", ())]


async def test_photos_go_to_the_bucket_without_exif_and_leave_it_with_forget(
    start_bot: StartBot,
    telegram: FakeTelegram,
    bucket: S3Store,
    s3_endpoint: str,
    say: Say,
    database_url: str,
    tmp_path: Path,
) -> None:
    runtime = await start_bot(
        "webhook",
        media_s3_bucket=BUCKET,
        media_s3_endpoint=s3_endpoint,
        media_s3_access_key_id=CREDENTIALS["access_key_id"],
        media_s3_secret_access_key=CREDENTIALS["secret_access_key"],
    )
    resident = await placed_resident(runtime, telegram, 7501)
    await resident.send_photo(jpeg_with_gps(), caption="Таштанды чыгарылбай жатат")
    await resident.press(say("en", "kind.change"))
    await resident.press(category("garbage")["en"])
    [photo] = await rows(database_url, WishPhoto)
    assert await objects(bucket) == [PREFIX + photo.key]
    kept = await bucket.get(photo.key)
    assert kept is not None and not Image.open(io.BytesIO(kept)).getexif()
    assert not (tmp_path / "media").exists()  # nothing in the folder

    # The sweep lists the bucket: a file a wish holds is never an orphan.
    db = Database(database_url)
    try:
        assert await housekeeping.sweep_files(db, bucket, age=0) == []
    finally:
        await db.close()

    await resident.send("/forget")
    await resident.press(say("en", "forget.yes"))
    assert await objects(bucket) == []
