"""A resident on Telegram end to end through the fake Bot API, by webhook and by long
polling: onboarding and both kinds of wish, and the wishes in the export. The same flow in
every language, and the other wish flows, run at the conversation level:
tests/test_wishes_conversation.py."""

from __future__ import annotations

import logging
import re

import pytest

from tests import places
from tests.conftest import ExportWishes, Say, StartBot, resident_of
from tests.conversation import Talking
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


async def wishes_since(
    export_wishes: ExportWishes, known: set[str], *arguments: str
) -> list[dict[str, str]]:
    """The exported wishes whose references were not in `known` (the test's own)."""
    return [row for row in await export_wishes(*arguments) if row["reference"] not in known]


async def references(export_wishes: ExportWishes) -> set[str]:
    return {row["reference"] for row in await export_wishes()}


def reference_in(text: str) -> str:
    match = re.search(r"\b(\d{7})\b", text)
    assert match, f"no reference number in {text!r}"
    return match.group(1)


async def onboard_and_leave_both_wishes(
    resident: Talking, say: Say, language: str
) -> dict[str, str]:
    """/start, the language, the region and the place by buttons, then a /change and a
    /great; the references given."""
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
    return references


def assert_exported(rows: list[dict[str, str]], references: dict[str, str], language: str) -> None:
    assert sorted((r["reference"], r["kind"], r["category"], r["text"]) for r in rows) == sorted(
        [
            (references["change"], "change", "street_lighting", WISH_TEXTS["change"][language]),
            (references["great"], "great", "roads", WISH_TEXTS["great"][language]),
        ]
    )
    assert {(r["municipality"], r["region"], r["channel"], r["status"]) for r in rows} == {
        ("naryn_city", "naryn", "telegram", "accepted")
    }


@pytest.mark.parametrize(
    ("mode", "language", "user_id"), [("webhook", "ky", 5001), ("polling", "ru", 5002)]
)
async def test_onboarding_then_both_wishes_through_the_bot_api(
    start_bot: StartBot,
    telegram: FakeTelegram,
    say: Say,
    export_wishes: ExportWishes,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    language: str,
    user_id: int,
) -> None:
    """By webhook and by long polling, through the fake Bot API (the buttons as Telegram
    carries them); a pressed message's buttons are taken away, so that they cannot be
    pressed again."""
    runtime = await start_bot(mode)
    resident = resident_of(runtime, telegram, mode, user_id, language)
    made = await onboard_and_leave_both_wishes(resident, say, language)
    assert_exported(await export_wishes(), made, language)
    edits = [call for call in telegram.calls if call.method == "editMessageReplyMarkup"]
    assert edits and all(call.ok and int(call.params["chat_id"]) == user_id for call in edits)
    assert all("reply_markup" not in call.params for call in edits)  # none left
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
