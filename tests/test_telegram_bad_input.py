"""Bad input gets a short answer in the resident's language and loses nothing given."""

from __future__ import annotations

import pytest

from tests import places
from tests.conftest import ExportWishes, Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_bad_input_mid_flow_loses_nothing(
    start_bot: StartBot,
    telegram: FakeTelegram,
    say: Say,
    export_wishes: ExportWishes,
    language: str,
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 7001, language)
    await resident.send("/start m-naryn_city")
    await resident.press(places.LANGUAGE_NAMES[language])
    await resident.send("/change")
    category_prompt = say(language, "wish.category_prompt", kind=places.kind("change")[language])
    category_buttons = resident.buttons()

    for media in ("sticker", "voice"):
        replies = await resident.send_media(media)
        assert replies == [say(language, "error.unsupported") + "\n\n" + category_prompt], media
        assert resident.buttons() == category_buttons
    # A photo Telegram cannot give us (tests/test_photos.py has the ones it can).
    replies = await resident.send_media("photo")
    assert replies == [say(language, "photo.unreachable") + "\n\n" + category_prompt]

    replies = await resident.send("/teleport")
    assert replies == [
        say(language, "error.unknown_command", command="teleport") + "\n\n" + category_prompt
    ]

    water = places.category("drinking_water")[language]
    await resident.press(water)
    text_prompt = say(language, "wish.text_prompt", category=water, limit=1000)

    assert await resident.send("   \n ") == [
        say(language, "error.empty_text") + "\n\n" + text_prompt
    ]
    assert await resident.send("я" * 1001) == [
        say(language, "error.too_long", limit=1000, length=1001) + "\n\n" + text_prompt
    ]
    # A button from an earlier message (the category keyboard) no longer counts.
    replies = await resident.press(water)
    assert replies == [say(language, "error.stale_button") + "\n\n" + text_prompt]

    replies = await resident.send("Суу күнүнө эки саат гана келет")
    assert places.THANKS[language] in replies[0]
    rows = await export_wishes()
    assert [(r["kind"], r["category"], r["text"]) for r in rows] == [
        ("change", "drinking_water", "Суу күнүнө эки саат гана келет")
    ]


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_change_before_a_place_asks_for_it_then_carries_on(
    start_bot: StartBot,
    telegram: FakeTelegram,
    say: Say,
    export_wishes: ExportWishes,
    language: str,
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 7002, language)
    replies = await resident.send("/change")
    assert replies[0].startswith(say(language, "wish.place_first"))
    await resident.press(places.region("chui")[language])
    await resident.press(places.district_of("ivanovka")[language])
    replies = await resident.press(places.municipality("ivanovka")[language])
    ivanovka = places.municipality("ivanovka")[language]
    assert replies == [
        say(language, "place.set", place=ivanovka)
        + "\n\n"
        + say(language, "wish.category_prompt", kind=places.kind("change")[language])
    ]
    await resident.press(places.category("irrigation_water")[language])
    await resident.send("Сугат суу жетишпейт")
    rows = await export_wishes()
    assert [(r["municipality"], r["kind"], r["category"]) for r in rows] == [
        ("ivanovka", "change", "irrigation_water")
    ]


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_unknown_place_link_and_stray_buttons(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, language: str
) -> None:
    runtime = await start_bot("polling")
    resident = resident_of(runtime, telegram, "polling", 7003, language)
    replies = await resident.send("/start m-atlantis")
    assert say(language, "place.unknown_link") in replies[0]
    await resident.press(places.LANGUAGE_NAMES[language])
    assert places.region("batken")[language] in resident.buttons()  # asked for the place

    await resident.send("/cancel")
    await resident.send("/start m-naryn_city")
    # With a place already chosen, an unknown link keeps it and offers no list.
    replies = await resident.send("/start m-atlantis")
    assert replies == [
        say(language, "start.welcome")
        + "\n\n"
        + say(language, "start.unknown_link")
        + "\n\n"
        + say(language, "start.ready")
    ]
    replies = await resident.press_data("abc123:roads")  # from no prompt at all
    assert replies == [
        say(language, "error.stale_button") + "\n\n" + say(language, "hint.commands")
    ]
    replies = await resident.send_media("sticker")
    assert replies == [say(language, "error.unsupported") + "\n\n" + say(language, "hint.commands")]


async def test_free_text_first_is_kept_through_kind_place_and_category(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, export_wishes: ExportWishes
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 7004, "ru")
    replies = await resident.send("Спасибо за новую площадку во дворе!")
    assert replies == [say("ru", "wish.kind_prompt")]
    await resident.press("Это – здорово!")
    # The city of Osh is a region with one municipality, itself: one press chooses it.
    replies = await resident.press("город Ош")
    assert say("ru", "wish.category_prompt", kind="Это – здорово!") in replies[0]
    # Typed instead of pressing: kept, but the first text stays the wish's text.
    replies = await resident.send("ещё текст")
    assert replies[0].startswith(say("ru", "error.use_buttons"))
    replies = await resident.press("Молодёжь")
    assert "Спасибо" in replies[0]
    rows = await export_wishes()
    assert [(r["kind"], r["category"], r["text"]) for r in rows] == [
        ("great", "youth", "Спасибо за новую площадку во дворе!")
    ]


async def test_text_typed_instead_of_a_category_becomes_the_wish(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, export_wishes: ExportWishes
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 7005, "en")
    await resident.send("/start m-lenin")
    await resident.send("/change")
    replies = await resident.send("The school roof leaks")
    assert replies[0].startswith(say("en", "wish.text_kept"))
    replies = await resident.press("Schools")
    assert "Thank you" in replies[0]  # saved at once: the text was not asked again
    rows = await export_wishes()
    assert [(r["category"], r["text"]) for r in rows] == [("schools", "The school roof leaks")]
