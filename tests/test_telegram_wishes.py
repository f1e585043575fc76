"""A resident on Telegram: onboarding and both kinds of wish, end to end through the fake
Bot API, in each language, by webhook and by long polling; the wishes reach the export."""

from __future__ import annotations

import re

import pytest

from tests import places
from tests.conftest import ExportWishes, Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram

WISH_TEXTS = {
    "change": {
        "ky": "Көчөдө жарык жок, кечинде караңгы.",
        "ru": "На улице Ленина нет света, вечером темно.",
        "en": "There is no light on Lenin street at night.",
    },
    "great": {
        "ky": "Жаңы жол абдан жакшы болду, рахмат!",
        "ru": "Новая дорога получилась отличной, спасибо!",
        "en": "The new road is excellent, thank you!",
    },
}


def reference_in(text: str) -> str:
    match = re.search(r"\b(\d{7})\b", text)
    assert match, f"no reference number in {text!r}"
    return match.group(1)


@pytest.mark.parametrize("mode", ["webhook", "polling"])
@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_onboarding_then_both_wishes_reach_the_export(
    start_bot: StartBot,
    telegram: FakeTelegram,
    say: Say,
    export_wishes: ExportWishes,
    language: str,
    mode: str,
) -> None:
    runtime = await start_bot(mode)
    resident = resident_of(runtime, telegram, mode, 5001, language)
    naryn, naryn_city = (
        places.region("naryn")[language],
        places.municipality("naryn_city")[language],
    )

    replies = await resident.send("/start")
    assert replies[0].startswith(say(language, "start.welcome"))
    assert resident.buttons() == ["Кыргызча", "Русский", "English"]

    replies = await resident.press(places.LANGUAGE_NAMES[language])
    assert replies[0].startswith(
        say(language, "language.set", language=places.LANGUAGE_NAMES[language])
    )
    assert naryn in resident.buttons()

    await resident.press(naryn)
    assert naryn_city in resident.buttons()
    replies = await resident.press(naryn_city)
    assert replies[0].startswith(say(language, "place.set", place=naryn_city))
    assert "/change" in replies[0] and "/great" in replies[0]

    references = {}
    for kind, category in (("change", "street_lighting"), ("great", "roads")):
        category_name = places.category(category)[language]
        replies = await resident.send(f"/{kind}")
        assert places.kind(kind)[language] in replies[0]
        assert category_name in resident.buttons()
        replies = await resident.press(category_name)
        assert category_name in replies[0]
        replies = await resident.send(WISH_TEXTS[kind][language])
        assert places.THANKS[language] in replies[0]
        assert places.REFERENCE_LABEL[language] in replies[0]
        references[kind] = reference_in(replies[0])

    rows = await export_wishes()
    assert sorted((r["reference"], r["kind"], r["category"], r["text"]) for r in rows) == sorted(
        [
            (references["change"], "change", "street_lighting", WISH_TEXTS["change"][language]),
            (references["great"], "great", "roads", WISH_TEXTS["great"][language]),
        ]
    )
    assert {(r["municipality"], r["region"], r["channel"], r["status"]) for r in rows} == {
        ("naryn_city", "naryn", "telegram", "accepted")
    }


async def test_deep_link_then_change_is_in_the_export(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, export_wishes: ExportWishes
) -> None:
    """The issue's done criterion: /start m-naryn_city → /change → category → text."""
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 5002, "ru")

    replies = await resident.send("/start m-naryn_city")
    assert say("ru", "place.set", place="город Нарын") in replies[0]
    replies = await resident.leave_wish("change", "Мусор", "Мусор не вывозят две недели")
    reference = reference_in(replies[0])

    rows = await export_wishes("--municipality", "naryn_city")
    assert [(r["reference"], r["kind"], r["category"], r["text"]) for r in rows] == [
        (reference, "change", "garbage", "Мусор не вывозят две недели")
    ]
    assert await export_wishes("--municipality", "osh") == []


async def test_language_is_guessed_from_telegram_and_kyrgyz_by_default(
    start_bot: StartBot, telegram: FakeTelegram, say: Say
) -> None:
    runtime = await start_bot("webhook")
    for user_id, code, expected in ((5003, "ru", "ru"), (5004, "de", "ky"), (5005, None, "ky")):
        resident = resident_of(runtime, telegram, "webhook", user_id, code)
        replies = await resident.send("/start")
        assert replies[0].startswith(say(expected, "start.welcome")), (code, replies[0])
