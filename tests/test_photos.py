"""Photos and places with a wish (issue 17): through the fake Bot API's getFile and file
download, kept without metadata, refused where they could identify a reporter, and shown
publicly only once staff approve them."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

from bot.channels import images
from storage.models import BribeReport, Wish, WishPhoto
from tests.conftest import Say, StartBot, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.resident import Resident

GPS_TAG = 0x8825  # EXIF's GPS IFD
MAKE_TAG = 0x010F


def jpeg_with_gps(size: tuple[int, int] = (640, 480), colour: str = "green") -> bytes:
    """A phone's photo: a JPEG whose EXIF holds a GPS position and the camera's make."""
    picture = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[MAKE_TAG] = "PhoneMaker"
    exif.get_ifd(GPS_TAG).update({1: "N", 2: (42.0, 52.0, 30.0), 3: "E", 4: (74.0, 35.0, 10.0)})
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes())
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_TAG)  # it does carry GPS
    return data


def png_claiming(width: int, height: int, mode: str = "1") -> bytes:
    """A small PNG whose header claims width × height pixels (what a bomb's header says;
    the pixels themselves are not there)."""
    picture = Image.new(mode, (width, 1))
    out = io.BytesIO()
    picture.save(out, "PNG")
    data = bytearray(out.getvalue())
    data[20:24] = height.to_bytes(4, "big")  # the IHDR height
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # and its checksum
    return bytes(data)


def png_bomb(side: int = 50_000) -> bytes:
    """A small PNG file that claims 50,000 × 50,000 pixels (its header is what matters)."""
    return png_claiming(side, side)


def stored_file(media: Path, key: str) -> bytes:
    return (media / key[:2] / key[2:4] / key).read_bytes()


async def placed_resident(runtime: Any, telegram: FakeTelegram, user_id: int) -> Resident:
    resident = resident_of(runtime, telegram, "webhook", user_id, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    return resident


async def test_a_photo_with_a_caption_becomes_a_wish_kept_without_its_exif(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str, tmp_path: Path
) -> None:
    runtime = await start_bot("webhook")
    resident = await placed_resident(runtime, telegram, 7301)
    [asked] = await resident.send_photo(jpeg_with_gps(), caption="Таштанды чыгарылбай жатат")
    assert asked.startswith(say("en", "photo.added", count=1, limit=3))
    assert asked.endswith(say("en", "wish.kind_prompt"))
    await resident.press(say("en", "kind.change"))
    [saved] = await resident.press(category("garbage")["en"])
    assert say("en", "photo.with_wish", count=1) in saved
    [wish] = await rows(database_url, Wish)
    assert wish.text == "Таштанды чыгарылбай жатат" and not wish.media_public
    [photo] = await rows(database_url, WishPhoto)
    kept = stored_file(tmp_path / "media", photo.key)
    reread = Image.open(io.BytesIO(kept))
    assert reread.format == "JPEG" and reread.size == (640, 480) == (photo.width, photo.height)
    assert not reread.getexif() and "exif" not in reread.info
    assert b"PhoneMaker" not in kept
    # The same update again (Telegram redelivers): nothing new.
    await resident.redeliver()
    assert len(await rows(database_url, WishPhoto)) == 1


async def test_photos_join_the_wish_being_written_and_the_one_just_sent_up_to_three(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    resident = await placed_resident(runtime, telegram, 7302)
    await resident.send("/change")
    water = category("drinking_water")["en"]
    [asked] = await resident.send_photo(jpeg_with_gps(colour="blue"))  # while a topic is asked
    assert asked.startswith(say("en", "photo.added", count=1, limit=3))
    await resident.press(water)
    [saved] = await resident.send("No water since Monday")
    assert say("en", "photo.with_wish", count=1) in saved
    assert saved.endswith(say("en", "photo.offer", minutes=10))  # the place, still optional
    [wish] = await rows(database_url, Wish)
    # A photo a minute later, without a caption: it goes with the wish just sent.
    for count, colour in ((2, "red"), (3, "yellow")):
        assert await resident.send_photo(jpeg_with_gps(colour=colour)) == [
            say("en", "photo.attached", reference=wish.reference, count=count, limit=3)
        ]
    assert await resident.send_photo(jpeg_with_gps(colour="white")) == [
        say("en", "photo.limit", limit=3, reference=wish.reference)
    ]
    assert len(await rows(database_url, WishPhoto)) == 3


async def test_bad_images_are_refused_plainly_and_the_caption_is_kept(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str, tmp_path: Path
) -> None:
    runtime = await start_bot("webhook")
    resident = await placed_resident(runtime, telegram, 7303)
    not_an_image = b"\xff\xd8\xff\xe0 this is a text file named photo.jpg" * 10
    [refused] = await resident.send_photo(not_an_image, caption="The bridge is broken")
    assert refused.startswith(say("en", "photo.not_an_image"))
    assert say("en", "wish.kind_prompt") in refused  # the caption started the wish
    await resident.press(say("en", "kind.change"))
    await resident.press(category("roads")["en"])
    [wish] = await rows(database_url, Wish)
    assert wish.text == "The bridge is broken"

    assert (await resident.send_photo(png_bomb()))[0].startswith(say("en", "photo.too_many_pixels"))
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    [wrong] = await resident.send_document(gif.getvalue(), "funny.gif", "image/gif")
    assert wrong.startswith(say("en", "photo.wrong_kind"))
    # Telegram says the photo is 30 MB (its thumbnail shows nothing): not even fetched.
    downloads = telegram.downloads
    [big] = await resident.send_photo(b"x" * 100, size=30 * 1024 * 1024)
    assert big.startswith(say("en", "photo.too_big")) and telegram.downloads == downloads
    assert await rows(database_url, WishPhoto) == []
    assert not list((tmp_path / "media").glob("*/*/*"))


async def test_a_bribe_report_takes_no_photo_and_no_place(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str, tmp_path: Path
) -> None:
    runtime = await start_bot("webhook")
    resident = await placed_resident(runtime, telegram, 7304)
    await resident.send("/bribe")
    services = resident.buttons()
    [refused] = await resident.send_photo(jpeg_with_gps(), caption="the clerk's office")
    assert refused.startswith(say("en", "photo.not_with_bribe") + "\n\n")
    assert resident.buttons() == services  # the service is asked again
    [refused] = await resident.send_location(42.87, 74.59)
    assert refused.startswith(say("en", "location.not_with_bribe") + "\n\n")
    assert resident.buttons() == services
    assert await rows(database_url, WishPhoto) == [] and await rows(database_url, BribeReport) == []
    assert not list((tmp_path / "media").glob("*/*/*"))  # not even for a moment kept
    assert not telegram.called("getFile")  # not even fetched


async def test_a_place_is_kept_only_when_it_is_the_problems(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    resident = await placed_resident(runtime, telegram, 7305)
    assert await resident.send_location(51.5, -0.12) == [say("en", "location.outside")]
    [asked] = await resident.send_location(41.428711, 75.991234)
    assert asked == say("en", "location.ask")
    # A photo before the answer: it joins the wish, and the question is asked again.
    [again] = await resident.send_photo(jpeg_with_gps(colour="orange"))
    assert again == say("en", "photo.added", count=1, limit=3) + "\n\n" + asked
    [kind] = await resident.press(say("en", "location.yes"))
    assert kind.startswith(say("en", "location.kept"))
    await resident.press(say("en", "kind.change"))
    await resident.press(category("roads")["en"])
    [saved] = await resident.send("Potholes on Lenin street")
    assert saved.endswith(say("en", "location.with_wish"))  # nothing more to offer
    assert say("en", "photo.with_wish", count=1) in saved
    # "Where I am" right after a wish: not kept when the resident says it is not the place.
    await resident.send_location(41.43, 75.99)
    assert await resident.press(say("en", "location.no")) == [say("en", "location.dropped")]
    [wish] = await rows(database_url, Wish)
    assert (wish.latitude, wish.longitude) == (41.429, 75.991)  # rounded to the street
    # Then the problem's place for the wish just sent.
    await resident.send_location(41.4301, 75.9899)
    assert await resident.press(say("en", "location.yes")) == [
        say("en", "location.attached", reference=wish.reference)
    ]
    [wish] = await rows(database_url, Wish)
    assert (wish.latitude, wish.longitude) == (41.43, 75.99)


def test_cleaning_refuses_bombs_and_keeps_pixels_upright() -> None:
    """bot/channels/images.py alone: the orientation the camera meant is applied, then dropped."""
    picture = Image.new("RGB", (300, 100), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes())
    cleaned = images.clean(out.getvalue())
    assert (cleaned.width, cleaned.height) == (100, 300)
    assert not Image.open(io.BytesIO(cleaned.data)).getexif()
    large = Image.new("RGB", (3000, 1800), "grey")
    out = io.BytesIO()
    large.save(out, "PNG")
    assert images.clean(out.getvalue()).width == images.LONG_SIDE
    for data, key in (
        (png_bomb(), "photo.too_many_pixels"),
        (b"GIF89a" + b"\x00" * 100, "photo.not_an_image"),
        (b"x" * (images.MAX_BYTES + 1), "photo.too_big"),
    ):
        try:
            images.clean(data)
        except images.ImageRefused as refused:
            assert refused.key == key
        else:
            raise AssertionError(f"{key} was taken")
