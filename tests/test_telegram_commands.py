"""The resident's commands: /help, /privacy, /mydata, /cancel, /language, /place, /forget."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Conversation, Person, Wish
from tests import places
from tests.conftest import ExportWishes, Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_information_commands_keep_the_flow_under_way(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, language: str
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 8001, language)
    await resident.send("/start m-dobolu")
    await resident.press(places.LANGUAGE_NAMES[language])
    await resident.send("/great")
    category_prompt = say(language, "wish.category_prompt", kind=places.kind("great")[language])

    assert await resident.send("/help") == [say(language, "help.text"), category_prompt]
    assert await resident.send("/privacy") == [say(language, "privacy.text"), category_prompt]
    replies = await resident.send("/mydata")
    assert replies == [
        say(
            language,
            "mydata.text",
            channel="Telegram",
            language=places.LANGUAGE_NAMES[language],
            place=places.municipality("dobolu")[language],
            wishes=0,
            since=dt.datetime.now(dt.UTC).date().isoformat(),
        ),
        category_prompt,
    ]
    # ...and the flow is still there.
    replies = await resident.press(places.category("health")[language])
    assert places.category("health")[language] in replies[0]


async def test_cancel_drops_the_flow(start_bot: StartBot, telegram: FakeTelegram, say: Say) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 8002, "ky")
    await resident.send("/start m-chaek")
    await resident.send("/change")
    assert await resident.send("/cancel") == [say("ky", "cancel.done")]
    assert await resident.send("/cancel") == [say("ky", "cancel.nothing")]
    # A text now starts afresh instead of landing in the cancelled flow.
    assert await resident.send("Клуб керек") == [say("ky", "wish.kind_prompt")]


async def test_language_and_place_can_be_changed(
    start_bot: StartBot, telegram: FakeTelegram, say: Say
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 8003, "ky")
    await resident.send("/start m-baetov")
    await resident.press("Кыргызча")

    await resident.send("/language")
    assert await resident.press("English") == [say("en", "language.set", language="English")]
    menus = telegram.called("setMyCommands")
    chat_menu = menus[-1].params
    assert chat_menu["scope"] == {"type": "chat", "chat_id": 8003}
    assert {c["command"]: c["description"] for c in chat_menu["commands"]}["change"] == (
        "I want to change…"
    )

    await resident.send("/place")
    await resident.press("Batken Region")
    # The region's towns of its own, then its districts (Beshkent lies in Leilek).
    assert resident.buttons() == [
        "Kyzyl-Kiya city",
        "Batken city",
        "Sulukta city",
        "Batken District",
        "Leilek District",
        "Kadamjay District",
        "« Back",
    ]
    await resident.press("« Back")  # back to the regions
    await resident.press("Issyk-Kul Region")
    await resident.press("Ton District")  # an ayil aimak is chosen in its district
    assert await resident.press("Tort-Kul") == [say("en", "place.set", place="Tort-Kul")]
    replies = await resident.send("/mydata")
    assert "Place: Tort-Kul" in replies[0] and "Language: English" in replies[0]


async def test_forget_deletes_the_profile_and_keeps_wishes_unlinked(
    start_bot: StartBot,
    telegram: FakeTelegram,
    say: Say,
    database_url: str,
    export_wishes: ExportWishes,
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 8004, "ru")
    await resident.send("/start m-kyzyl_kiya")
    await resident.leave_wish("change", "Безработица", "Нужны рабочие места для молодёжи")

    await resident.send("/forget")
    assert await resident.press("Нет, оставить") == [say("ru", "forget.kept")]
    await resident.send("/forget")
    assert await resident.press("Да, удалить") == [say("ru", "forget.done")]

    db = Database(database_url)
    try:
        async with db.session() as session:
            assert (await session.scalars(select(Person))).all() == []
            assert (await session.scalars(select(Conversation))).all() == []
            wishes = (await session.scalars(select(Wish))).all()
            assert [(w.text, w.person_id) for w in wishes] == [
                ("Нужны рабочие места для молодёжи", None)
            ]
    finally:
        await db.close()
    assert len(await export_wishes()) == 1

    # Coming back starts from scratch: the language is asked again.
    replies = await resident.send("/start")
    assert replies[0].startswith(say("ru", "start.welcome"))
    assert resident.buttons() == ["Кыргызча", "Русский", "English"]


async def test_commands_take_their_answer_as_an_argument(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, export_wishes: ExportWishes
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 8005, "ru")
    assert await resident.send("/place 104") == [
        say("ru", "place.set", place="айыльный аймак Торт-Кул")
    ]
    assert await resident.send("/language en") == [say("en", "language.set", language="English")]

    replies = await resident.send("/place 999")
    assert replies[0].startswith(say("en", "place.unknown", value="999"))
    assert "Naryn Region" in resident.buttons()  # and the regions are offered
    replies = await resident.send("/language klingon")
    assert replies[0].startswith(say("en", "language.unknown"))
    assert resident.buttons() == ["Кыргызча", "Русский", "English"]

    replies = await resident.send("/change The bridge is broken")
    assert replies == [say("en", "wish.category_prompt", kind="I want to change…")]
    replies = await resident.press("Roads")  # the text came with the command: saved now
    assert "Thank you" in replies[0]
    rows = await export_wishes()
    assert [(r["municipality"], r["category"], r["text"]) for r in rows] == [
        ("tort_kul", "roads", "The bridge is broken")
    ]
    # SMS-only keywords mean nothing in a chat.
    replies = await resident.send("/stop")
    assert replies[0].startswith(say("en", "error.unknown_command", command="stop"))
