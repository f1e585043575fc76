"""What a picture may cost (issue 25): a small file that claims a huge picture is refused
from its header, before any pixel is decoded; a phone's large JPEG is decoded at a reduced
size; at most two pictures are fetched and decoded at once; and nothing is fetched for a
sender whose picture would not be kept (no place yet, over the wish limit, a bribe report)
— who still gets their answer."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from bot.channels import images, pictures
from handlers import flood
from handlers.types import Picture
from storage.models import Wish, WishPhoto
from tests.conftest import Say, StartBot, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.places import category, municipality, region
from tests.test_answers import sms
from tests.test_photos import jpeg_with_gps, placed_resident
from tests.test_photos_sms import with_media
from tests.twilio import FakeTwilio, twilio_settings

BOMB_SIDE = 6324  # the probe: 40 megapixels, just under the old bound


def png_of_zeros(width: int, height: int) -> bytes:
    """An RGBA PNG of zeros, compressed row by row (never held whole): 6324 × 6324 is a
    155 KB file that takes 160 MB once decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    squeeze, row = zlib.compressobj(9), bytes(1 + 4 * width)  # filter byte, then pixels
    idat = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small progressive JPEG whose header claims width × height pixels."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "grey").save(out, "JPEG", progressive=True)
    data = bytearray(out.getvalue())
    frame = data.index(b"\xff\xc2")  # SOF2: length, precision, then height and width
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A small lossy WebP whose header claims width × height pixels."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "grey").save(out, "WEBP")
    data = bytearray(out.getvalue())
    assert data[12:16] == b"VP8 "
    data[26:30] = struct.pack("<HH", width, height)
    return bytes(data)


def encoded(picture: Image.Image, kind: str, **options: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, kind, **options)
    return out.getvalue()


def refusal(data: bytes) -> str:
    try:
        images.clean(data)
    except images.ImageRefused as refused:
        return refused.key
    raise AssertionError("the image was taken")


def test_bombs_are_refused_from_their_headers_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb, progressive = png_of_zeros(BOMB_SIDE, BOMB_SIDE), jpeg_claiming(8000, 6000)
    webp = webp_claiming(16000, 16000)
    assert len(bomb) < 200_000

    def no_decoding(*_: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    assert refusal(bomb) == "photo.too_many_pixels"
    # A progressive JPEG: however small the decode, libjpeg holds every coefficient.
    assert refusal(progressive) == "photo.too_many_pixels"
    # Pillow's WebP reader sets up libwebp's canvases as it opens the file: not even opened.
    monkeypatch.setattr(Image, "open", no_decoding)
    assert refusal(webp) == "photo.too_many_pixels"


def test_what_phones_send_is_taken_and_decoded_small(monkeypatch: pytest.MonkeyPatch) -> None:
    drafts: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spied(self: JpegImagePlugin.JpegImageFile, mode: Any, size: Any) -> Any:
        result = draft(self, mode, size)
        drafts.append(self.size)  # what will be decoded
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spied)
    # A 48 MP phone photo, held upright by its EXIF orientation: decoded at a quarter.
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    photo = encoded(Image.new("RGB", (8000, 6000), "grey"), "JPEG", exif=exif.tobytes())
    taken = images.clean(photo)
    assert drafts == [(2000, 1500)]  # never the 8000 × 6000 pixels
    assert (taken.width, taken.height) == (1500, 2000)
    # A phone's screenshot, and a 4K one, with or without transparency: scaled to LONG_SIDE.
    for size, mode in (((1440, 3200), "RGBA"), ((3840, 2160), "RGB")):
        taken = images.clean(encoded(Image.new(mode, size), "PNG"))
        assert max(taken.width, taken.height) == images.LONG_SIDE, size
    # A progressive phone-sized JPEG is taken too.
    progressive = encoded(Image.new("RGB", (4000, 3000)), "JPEG", progressive=True)
    assert (images.clean(progressive).width, drafts[-1]) == (2000, (2000, 1500))
    # A 15 MP PNG would take a hundred MB to decode and scale: refused.
    assert refusal(encoded(Image.new("RGB", (5000, 3000)), "PNG")) == "photo.too_many_pixels"


async def test_at_most_two_pictures_are_fetched_and_decoded_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock, release = threading.Lock(), threading.Event()
    loop, both_in = asyncio.get_running_loop(), asyncio.Event()
    decoding, most = 0, 0

    def slow_clean(data: bytes) -> Picture:
        nonlocal decoding, most
        with lock:
            decoding += 1
            most = max(most, decoding)
            if decoding == 2:
                loop.call_soon_threadsafe(both_in.set)
        release.wait(10)  # until the test lets go (bounded, should it fail first)
        with lock:
            decoding -= 1
        return Picture(data=data, key=data.hex(), width=1, height=1)

    monkeypatch.setattr(images, "clean", slow_clean)
    fetched: list[int] = []

    def fetch_of(number: int) -> pictures.Fetch:
        async def fetch() -> bytes:
            fetched.append(number)
            return bytes([number])

        return fetch

    senders = [asyncio.create_task(pictures.gather([fetch_of(n)])) for n in range(8)]
    try:
        async with asyncio.timeout(10):
            await both_in.wait()
        assert len(fetched) == 2  # the others wait for their turn, holding nothing
    finally:
        release.set()
    results = await asyncio.gather(*senders)
    assert most == 2 == pictures.PICTURES_AT_ONCE
    assert [len(taken) for taken, _ in results] == [1] * 8


async def test_a_sender_without_a_place_is_not_fetched_from_and_keeps_the_caption(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str, tmp_path: Path
) -> None:
    runtime = await start_bot("webhook")
    # The probe: the bomb as a document, from someone who never onboarded.
    prober = resident_of(runtime, telegram, "webhook", 7500, "en")
    bomb = png_of_zeros(BOMB_SIDE, BOMB_SIDE)
    [answer] = await prober.send_document(bomb, "zeros.png", "image/png")
    assert answer == say("en", "photo.place_first") + "\n\n" + say("en", "place.region_prompt")
    # A photo with its caption: the caption is the wish's text once the place is chosen.
    stranger = resident_of(runtime, telegram, "webhook", 7501, "en")
    [answer] = await stranger.send_photo(jpeg_with_gps(), caption="The bridge is broken")
    assert answer.startswith(say("en", "photo.place_first"))
    assert not telegram.called("getFile") and telegram.downloads == 0
    await stranger.press(region("naryn")["en"])
    [kind] = await stranger.press(municipality("naryn_city")["en"])
    assert kind.endswith(say("en", "wish.kind_prompt"))
    await stranger.press(say("en", "kind.change"))
    await stranger.press(category("roads")["en"])
    [wish] = await rows(database_url, Wish)
    assert wish.text == "The bridge is broken"
    # Placed, their photo is taken.
    [attached] = await stranger.send_photo(jpeg_with_gps())
    assert attached == say("en", "photo.attached", reference=wish.reference, count=1, limit=3)
    assert len(telegram.called("getFile")) == 1 and len(await rows(database_url, WishPhoto)) == 1


async def test_a_sender_over_the_wish_limit_is_not_fetched_from(
    start_bot: StartBot,
    telegram: FakeTelegram,
    say: Say,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flood, "WISHES_PER_HOUR", 1)
    runtime = await start_bot("webhook")
    resident = await placed_resident(runtime, telegram, 7502)
    await resident.leave_wish("change", category("roads")["en"], "Potholes on Lenin street")
    # The photo would join the wish just sent; the sender is at the limit.
    assert await resident.send_photo(jpeg_with_gps()) == [say("en", "wish.flood", limit=1)]
    assert await resident.send_photo(jpeg_with_gps(colour="red")) == []  # then quiet
    assert not telegram.called("getFile") and telegram.downloads == 0
    assert await rows(database_url, WishPhoto) == []


async def test_an_mms_from_a_number_without_a_place_is_not_fetched(
    start_bot: StartBot, twilio: FakeTwilio, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    url = twilio.add_media(jpeg_with_gps())
    answer = await sms(
        runtime, "+996555700200", "ӨЗГӨРТ Таштанды чыгарылбай жатат", **with_media(url)
    )
    assert answer.startswith(say("ky", "sms.photo.place_first"))
    assert say("ky", "place.hint") in answer  # the wish itself is kept, its place asked
    assert twilio.media_fetches == 0
    [wish] = await rows(database_url, Wish)
    assert wish.text == "Таштанды чыгарылбай жатат" and await rows(database_url, WishPhoto) == []
