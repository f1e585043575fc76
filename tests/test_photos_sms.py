"""MMS and WhatsApp images fetched from Twilio's media URLs (the fake serves them behind the
account's credentials and redirects as Twilio does), and WhatsApp locations."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from storage.models import Wish, WishPhoto
from tests.conftest import Say, StartBot, rows
from tests.test_answers import sms
from tests.test_photos import jpeg_with_gps, stored_file
from tests.twilio import FakeTwilio, twilio_settings

NUMBER = "+996555700100"


def with_media(*urls: str, content_type: str = "image/jpeg") -> dict[str, str]:
    form = {"NumMedia": str(len(urls))}
    for index, url in enumerate(urls):
        form |= {f"MediaUrl{index}": url, f"MediaContentType{index}": content_type}
    return form


async def test_an_mms_wish_keeps_its_photo_without_exif_and_a_second_joins_it(
    start_bot: StartBot,
    twilio: FakeTwilio,
    say: Say,
    database_url: str,
    tmp_path: Path,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await sms(runtime, NUMBER, "ЖЕР naryn_city")
    url = twilio.add_media(jpeg_with_gps())
    answer = await sms(runtime, NUMBER, "ӨЗГӨРТ Таштанды чыгарылбай жатат", **with_media(url))
    assert say("ky", "sms.photo.with_wish", count=1) in answer
    [wish] = await rows(database_url, Wish)
    assert wish.text == "Таштанды чыгарылбай жатат" and wish.channel == "sms"
    [photo] = await rows(database_url, WishPhoto)
    kept = Image.open(io.BytesIO(stored_file(tmp_path / "media", photo.key)))
    assert not kept.getexif() and kept.size == (640, 480)
    # WhatsApp's picture alone, a minute later: with the wish just sent.
    second = twilio.add_media(jpeg_with_gps(colour="navy"), "image/png")
    assert await sms(runtime, NUMBER, "", **with_media(second)) == say(
        "ky", "sms.photo.attached", reference=wish.reference, count=2, limit=3
    )
    assert len(await rows(database_url, WishPhoto)) == 2


async def test_media_that_cannot_be_fetched_is_said_and_the_text_kept(
    start_bot: StartBot, twilio: FakeTwilio, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    assert runtime.sms is not None
    runtime.sms.media.timeout = 0.5  # seconds: the slow medium below takes 5
    await sms(runtime, NUMBER, "МЕСТО naryn_city")
    gone, slow = twilio.add_media(b"..."), twilio.add_media(b"...")
    twilio.missing.add(gone.rsplit("/", 1)[1])
    twilio.slow.add(slow.rsplit("/", 1)[1])
    for url, text in ((gone, "Свалка у реки"), (slow, "Нет света на улице")):
        answer = await sms(runtime, NUMBER, f"ИЗМЕНИТЬ {text}", **with_media(url))
        assert answer.startswith(say("ru", "sms.photo.unreachable"))
    assert {w.text for w in await rows(database_url, Wish)} == {
        "Свалка у реки",
        "Нет света на улице",
    }
    huge = twilio.add_media(b"\xff" * (11 * 1024 * 1024))  # 11 MB: refused as it streams
    answer = await sms(runtime, NUMBER, "ИЗМЕНИТЬ Огромное фото", **with_media(huge))
    assert answer.startswith(say("ru", "sms.photo.too_big"))
    fetches = twilio.media_fetches
    video = twilio.add_media(b"not fetched", "video/mp4")
    answer = await sms(
        runtime, NUMBER, "ИЗМЕНИТЬ Видео ямы", **with_media(video, content_type="video/mp4")
    )
    assert answer.startswith(say("ru", "sms.photo.wrong_kind"))
    assert twilio.media_fetches == fetches and await rows(database_url, WishPhoto) == []
    # Two pictures, one gone: the other is kept, and the lost one said.
    good = twilio.add_media(jpeg_with_gps())
    answer = await sms(runtime, NUMBER, "ИЗМЕНИТЬ Два фото ямы", **with_media(good, gone))
    assert answer.startswith(say("ru", "sms.photo.unreachable"))
    assert say("ru", "sms.photo.with_wish", count=1) in answer
    assert len(await rows(database_url, WishPhoto)) == 1


async def test_a_bribe_report_by_mms_keeps_no_photo(
    start_bot: StartBot, twilio: FakeTwilio, say: Say, database_url: str, tmp_path: Path
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await sms(runtime, NUMBER, "PLACE naryn_city")
    url = twilio.add_media(jpeg_with_gps())
    answer = await sms(runtime, NUMBER, "BRIBE 3 5000", **with_media(url))
    assert answer.startswith(say("en", "sms.photo.not_with_bribe"))
    assert await rows(database_url, WishPhoto) == []
    assert not list((tmp_path / "media").glob("*/*/*"))


async def test_a_whatsapp_location_is_asked_about_then_kept_with_the_wish(
    start_bot: StartBot, twilio: FakeTwilio, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    resident = f"whatsapp:{NUMBER}"
    place = {"Latitude": "41.428711", "Longitude": "75.991234"}
    assert await sms(runtime, resident, "", **place) == say("ky", "location.sms_first")  # no words
    await sms(runtime, resident, "PLACE naryn_city")
    await sms(runtime, resident, "CHANGE Potholes on Lenin street")
    assert await sms(runtime, resident, "", **place) == say("en", "location.ask_sms")
    [wish] = await rows(database_url, Wish)
    assert wish.latitude is None  # nothing kept before the answer
    assert await sms(runtime, resident, "1") == say(
        "en", "sms.location.attached", reference=wish.reference
    )
    [wish] = await rows(database_url, Wish)
    assert (wish.latitude, wish.longitude) == (41.429, 75.991)
    # "Where I am" answered with anything but yes: dropped.
    assert await sms(runtime, resident, "", Latitude="41.5", Longitude="75.5") == say(
        "en", "location.ask_sms"
    )
    assert await sms(runtime, resident, "no, that's my house") == say("en", "location.dropped")
    [wish] = await rows(database_url, Wish)
    assert (wish.latitude, wish.longitude) == (41.429, 75.991)
    far = {"Latitude": "55.75", "Longitude": "37.62"}
    assert await sms(runtime, resident, "", **far) == say("en", "location.outside")


async def test_an_mms_with_more_pictures_than_a_wish_takes_fetches_only_those(
    start_bot: StartBot, twilio: FakeTwilio, say: Say, database_url: str
) -> None:
    """An MMS may carry ten pictures; a wish takes three: the rest are never fetched (each
    would be held until the message is handled, then dropped), and the resident is told."""
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await sms(runtime, NUMBER, "PLACE naryn_city")
    urls = [twilio.add_media(jpeg_with_gps(colour=c)) for c in ("red", "navy", "olive") * 3]
    answer = await sms(runtime, NUMBER, "CHANGE Garbage by the river", **with_media(*urls[:9]))
    assert say("en", "sms.photo.first_ones") in answer
    assert twilio.media_fetches == 3  # a wish's worth, and no more
    assert len(await rows(database_url, WishPhoto)) == 3
