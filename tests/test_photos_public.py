"""Where photos show: staff see them in /inbox and the staff table links them; a photo and
the problem's place become public (the municipality's page, Open311, /media/KEY) only once
staff approve them; /forget and the sweep delete the files. The issue's "done means", with
the page in Debian's chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image
from playwright.async_api import Browser

from bot.runtime import housekeeping
from bot.web import photo_links
from storage.db import Database
from storage.files import FolderStore
from storage.models import Wish, WishPhoto, utcnow
from tests.conftest import Civicbot, Say, StartBot, rows
from tests.digests import official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.resident import Resident
from tests.test_answers import change
from tests.test_photos import jpeg_with_gps, placed_resident

BIN = "Таштанды чыгарылбай жатат"


async def bin_photographed(
    runtime: Any, telegram: FakeTelegram, user_id: int, say: Say, place: bool = False
) -> Resident:
    """A resident's wish: the overflowing bin, photographed (and its place, if asked)."""
    resident = await placed_resident(runtime, telegram, user_id)
    await resident.send_photo(jpeg_with_gps(), caption=BIN)
    await resident.press(say("en", "kind.change"))
    await resident.press(category("garbage")["en"])
    if place:
        await resident.send_location(41.4287, 75.9912)
        await resident.press(say("en", "location.yes"))
    return resident


async def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read(), dict(response.headers)


async def open311(runtime: Any, reference: str, locale: str) -> dict[str, Any]:
    """A request as Open311 gives it (answers are cached a minute: each call here asks in
    another locale, so that it is answered afresh)."""
    url = f"{runtime.base_url}/open311/v2/requests/{reference}.json?locale={locale}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        [request] = await response.json()
    return dict(request)


async def test_staff_see_the_photo_and_once_approved_it_is_on_the_page_without_exif(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    browser: Browser,
    say: Say,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook")
    await bin_photographed(runtime, telegram, 7401, say, place=True)
    [wish] = await rows(database_url, Wish)
    [photo] = await rows(database_url, WishPhoto)
    media_url = f"{runtime.base_url}/media/{photo.key}"

    # Not public yet: not on the page, not in Open311, not at its URL.
    assert (await get(media_url))[0] == 404
    request = await open311(runtime, wish.reference, "ky")
    assert (request["media_url"], request["lat"], request["long"]) == (None, None, None)

    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9701, "en", role="staff", municipality="naryn_city"
    )
    await staff.send("/inbox")
    sent_before = len(telegram.delivered_to(9701))
    [shown] = await staff.press(wish.reference)
    assert say("en", "inbox.photos", count=1) in shown
    assert say("en", "inbox.place", latitude="41.429", longitude="75.991") in shown
    assert say("en", "inbox.public_no") in shown
    [sent_photo] = [c for c in telegram.delivered_to(9701)[sent_before:] if c.method == "sendPhoto"]
    received = Image.open(io.BytesIO(sent_photo.params["photo"]["content"]))
    assert received.size == (640, 480) and not received.getexif()

    [now_public] = await staff.press(say("en", "inbox.public_button"))
    assert now_public.startswith(say("en", "inbox.public_now"))
    status, body, headers = await get(media_url)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(body)).getexif() and b"PhoneMaker" not in body
    request = await open311(runtime, wish.reference, "ru")
    assert request["media_url"] == f"https://civic.example.test/media/{photo.key}"
    assert (request["lat"], request["long"]) == (41.429, 75.991)

    # The municipality's page, in a real browser: the text and the photo, which loads.
    page = await browser.new_page()
    await page.goto(f"{runtime.base_url}/m/naryn_city?lang=ky")
    assert BIN in await page.locator("body").inner_text()
    image = page.locator("img.photo")
    assert await image.count() == 1
    await image.scroll_into_view_if_needed()
    await page.wait_for_function("document.querySelector('img.photo').complete")
    assert await image.evaluate("img => img.naturalWidth") == 640
    assert await image.get_attribute("alt") == say("ky", "page.photo_of", reference=wish.reference)

    # Withdrawn: gone from everywhere public again.
    await staff.press(say("en", "inbox.private_button"))
    assert (await get(media_url))[0] == 404


async def test_the_staff_table_links_photos_with_expiring_signed_links(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    await bin_photographed(runtime, telegram, 7402, say)
    [photo] = await rows(database_url, WishPhoto)
    await change(database_url, BIN, created_at=utcnow() - dt.timedelta(days=7))  # last week's
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9702, "en", role="staff", municipality="naryn_city"
    )
    before = len(telegram.delivered_to(9702))
    await staff.send("/digest")
    documents = [c for c in telegram.delivered_to(9702)[before:] if c.method == "sendDocument"]
    table = documents[-1].params["document"]["content"].decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(table)))
    link = row[say("en", "column.photos")]
    assert link.startswith(f"https://civic.example.test/media/{photo.key}?until=")
    local = link.replace("https://civic.example.test", runtime.base_url)
    assert (await get(local))[0] == 200  # not public, but signed for staff
    forged = local[:-4] + ("0000" if not local.endswith("0000") else "1111")
    assert (await get(forged))[0] == 404
    expired = photo_links.signed_url(runtime.settings, photo.key, now=time.time() - 31 * 86400)
    assert (await get(expired.replace("https://civic.example.test", runtime.base_url)))[0] == 404
    digest_text = [c.params.get("text", "") for c in telegram.delivered_to(9702)[before:]]
    assert any(say("en", "digest.photos", count=1) in text for text in digest_text)


async def test_forget_deletes_the_residents_photos_and_the_sweep_takes_orphans(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str, tmp_path: Path
) -> None:
    runtime = await start_bot("webhook")
    resident = await bin_photographed(runtime, telegram, 7403, say, place=True)
    media = tmp_path / "media"
    assert len(list(media.glob("*/*/*"))) == 1
    await resident.send("/forget")
    await resident.press(say("en", "forget.yes"))
    assert await rows(database_url, WishPhoto) == []
    [wish] = await rows(database_url, Wish)
    assert wish.text == BIN and wish.person_id is None and wish.latitude is None  # text stays
    assert list(media.glob("*/*/*")) == []

    # A photo sent, then the wish abandoned: its file goes once it is old and held by nothing.
    again = await placed_resident(runtime, telegram, 7404)
    await again.send_photo(jpeg_with_gps(colour="purple"))
    await again.send("/cancel")
    [orphan] = list(media.glob("*/*/*"))
    files = FolderStore(media)
    db = Database(database_url)
    try:
        assert await housekeeping.sweep_files(db, files) == []  # too new to be an orphan
        old = time.time() - housekeeping.ORPHAN_AGE - 60
        os.utime(orphan, (old, old))
        assert await housekeeping.sweep_files(db, files) == [orphan.name]
    finally:
        await db.close()
    assert not orphan.exists()
