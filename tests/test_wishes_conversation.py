"""A resident on Telegram at the conversation level (tests/conversation.py): onboarding and
both kinds of wish in each language, the deep link, the language guessed; the wishes as
exported. One database per module, a fresh resident per test: the export is read for the
test's own rows. The same flow through the Bot API: tests/test_telegram_wishes.py."""

from __future__ import annotations

import pytest

from storage.models import Wish, WishPhoto
from tests import places
from tests.conftest import ExportWishes, Say
from tests.conversation import World
from tests.test_photos import jpeg_with_gps
from tests.test_telegram_wishes import (
    assert_exported,
    onboard_and_leave_both_wishes,
    reference_in,
    references,
    wishes_since,
)


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the exports read it."""
    return conversation_database_url


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_onboarding_then_both_wishes_reach_the_export(
    world: World, say: Say, export_wishes: ExportWishes, language: str
) -> None:
    known = await references(export_wishes)
    resident = world.conversation("telegram", language)
    made = await onboard_and_leave_both_wishes(resident, say, language)
    assert_exported(await wishes_since(export_wishes, known), made, language)


@pytest.mark.parametrize("channel", ["telegram", "web"])
async def test_deep_link_then_change_is_in_the_export(
    world: World, say: Say, export_wishes: ExportWishes, channel: str
) -> None:
    """The issue's done criterion: /start m-naryn_city → /change → category → text (the
    web chat's visitor as Telegram's resident)."""
    known = await references(export_wishes)
    resident = world.conversation(channel, "ru")

    replies = await resident.send("/start m-naryn_city")
    assert say("ru", "place.set", place="город Нарын") in replies[0]
    await resident.send("/change")
    await resident.press("Мусор")
    replies = await resident.send("Мусор не вывозят две недели")
    reference = reference_in(replies[0])

    rows = await wishes_since(export_wishes, known, "--municipality", "naryn_city")
    assert [(r["reference"], r["kind"], r["category"], r["text"]) for r in rows] == [
        (reference, "change", "garbage", "Мусор не вывозят две недели")
    ]
    assert {r["channel"] for r in rows} == {channel}
    assert await wishes_since(export_wishes, known, "--municipality", "osh") == []


async def test_language_is_guessed_from_telegram_and_kyrgyz_by_default(
    world: World, say: Say
) -> None:
    for code, expected in (("ru", "ru"), ("de", "ky"), (None, "ky")):
        resident = world.conversation("telegram", code)
        replies = await resident.send("/start")
        assert replies[0].startswith(say(expected, "start.welcome")), (code, replies[0])


# What a sticker's answer says the bot takes, in each language's words (photos and places
# are taken since issue 17), and the claim it must not make.
TAKEN = {
    "ky": (("текст", "сүрөт", "жайгашкан жер"), "гана"),
    "ru": (("текст", "фото", "геолокаци"), "только"),
    "en": (("text", "photo", "location"), "only"),
}


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_a_sticker_is_told_what_is_taken(world: World, say: Say, language: str) -> None:
    resident = world.conversation("telegram", language)
    [answer] = await resident.send_unsupported("sticker")
    assert answer == say(language, "error.unsupported") + "\n\n" + say(language, "hint.commands")
    said = say(language, "error.unsupported").lower()
    kinds, only = TAKEN[language]
    assert all(kind in said for kind in kinds) and only not in said, said


async def test_a_photo_with_a_caption_becomes_a_wish_with_its_photo(world: World, say: Say) -> None:
    """The flow around a photo (its fetching and cleaning are the wire's: test_photos.py)."""
    resident = world.conversation("telegram", "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    known = await world.ids(Wish)
    [asked] = await resident.send_photo(jpeg_with_gps(), caption="Таштанды чыгарылбай жатат")
    assert asked.startswith(say("en", "photo.added", count=1, limit=3))
    assert asked.endswith(say("en", "wish.kind_prompt"))
    await resident.press(say("en", "kind.change"))
    [saved] = await resident.press(places.category("garbage")["en"])
    assert say("en", "photo.with_wish", count=1) in saved
    [wish] = await world.rows_since(Wish, known)
    assert (wish.text, wish.category) == ("Таштанды чыгарылбай жатат", "garbage")
    photos = await world.rows_since(WishPhoto, set())
    assert [photo.wish_id for photo in photos].count(wish.id) == 1
