"""What must survive: a restart mid-conversation, a redelivered update, a blocked bot."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Person, Wish
from tests.conftest import ExportWishes, Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_restart_mid_conversation_resumes_where_the_resident_was(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, export_wishes: ExportWishes, mode: str
) -> None:
    first = await start_bot(mode)
    resident = resident_of(first, telegram, mode, 6001, "ky")
    await resident.send("/start m-karakol")
    await resident.send("/change")
    replies = await resident.press("Жолдордун абалы")
    assert replies == [
        say("ky", "wish.text_prompt", category="Жолдордун абалы", limit=1000),
    ]
    category_keyboard = resident.newest_keyboard()
    await first.stop()

    second = await start_bot(mode)
    resident.deliver = resident_of(second, telegram, mode, 6001, "ky").deliver
    # The category keyboard from before the restart belongs to a finished step: stale.
    button = category_keyboard["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    replies = await resident.press_data(button, category_keyboard)
    assert replies[0].startswith(say("ky", "error.stale_button"))
    assert say("ky", "wish.text_prompt", category="Жолдордун абалы", limit=1000) in replies[0]

    replies = await resident.send("Борбордук көчөдө чуңкурлар көп")
    assert "Рахмат" in replies[0]
    rows = await export_wishes()
    assert [(r["municipality"], r["category"], r["text"]) for r in rows] == [
        ("karakol", "roads", "Борбордук көчөдө чуңкурлар көп")
    ]


async def test_a_repeated_update_does_nothing_twice(
    start_bot: StartBot, telegram: FakeTelegram, export_wishes: ExportWishes
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 6002, "en")
    await resident.send("/start m-osh")
    replies = await resident.leave_wish(
        "great", "Garbage and cleanliness", "The market square is clean now"
    )
    assert "Thank you" in replies[0]

    assert await resident.redeliver() == []  # no second answer...
    assert len(await export_wishes()) == 1  # ...and no second wish

    # A repeated button press does not move the conversation twice either.
    await resident.send("/change")
    replies = await resident.press("Roads")
    assert len(replies) == 1
    assert await resident.redeliver() == []


async def test_blocked_bot_marks_the_resident_until_they_write_again(
    start_bot: StartBot, telegram: FakeTelegram, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 6003, "ru")
    await resident.send("/start m-tokmok")
    telegram.blocked_chats.add(6003)
    await resident.send("/help")  # the reply is refused with 403

    db = Database(database_url)
    try:
        async with db.session() as session:
            person = await session.scalar(select(Person).where(Person.channel_user_id == "6003"))
            assert person is not None and person.opted_out

        telegram.blocked_chats.clear()
        replies = await resident.send("/help")
        assert replies
        async with db.session() as session:
            person = await session.scalar(select(Person).where(Person.channel_user_id == "6003"))
            assert person is not None and not person.opted_out
            assert await session.scalar(select(func.count(Wish.id))) == 0
    finally:
        await db.close()


async def test_logs_name_no_resident_and_quote_no_text(
    start_bot: StartBot, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 60049871, "ru")
    await resident.send("/start m-beshkent")
    await resident.leave_wish("change", "Мусор", "Свалка у реки Исфайрам")
    await resident.send_media("photo")
    await resident.redeliver()
    await resident.send("/forget")
    await resident.press("Да, удалить")
    assert caplog.records  # the service did log (start-up, webhook)
    assert "60049871" not in caplog.text
    assert "Исфайрам" not in caplog.text


async def test_an_answer_lost_in_a_crash_goes_out_when_the_update_comes_again(
    start_bot: StartBot,
    telegram: FakeTelegram,
    export_wishes: ExportWishes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies after the commit and before the answer is sent (modelled by an
    outbox that drops what it is given): the update was never acknowledged, so it comes
    again — to a fresh process — which recognises it, changes nothing, and sends the answer
    kept with it, buttons included. A second redelivery is not answered twice. (Webhook
    only: the fake's long polling cannot hand out an update it saw confirmed; both modes
    read the kept answer the same way.)"""
    first = await start_bot("webhook")
    resident = resident_of(first, telegram, "webhook", 6005, "en")
    await resident.send("/start m-osh")
    asked = await resident.send("/change")
    categories = resident.buttons()
    assert first.telegram is not None

    def crash(chat_id: object, calls: object) -> asyncio.Future[bool]:
        dropped: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        dropped.set_result(True)
        return dropped

    monkeypatch.setattr(first.telegram.outbox, "post", crash)
    assert await resident.press("Roads") == []  # committed, never sent
    assert await resident.send("Potholes on Lenin street") == []
    lost = resident.last_update
    await first.stop()

    second = await start_bot("webhook")
    again = resident_of(second, telegram, "webhook", 6005, "en")
    again.last_update = lost
    [answer] = await again.redeliver()
    assert answer.startswith("Thank you! Your message has been received.")
    assert await again.redeliver() == []  # this process answered it
    assert len(await export_wishes()) == 1

    # An answer with buttons keeps them: the category question, lost the same way.
    assert second.telegram is not None
    monkeypatch.setattr(second.telegram.outbox, "post", crash)
    await again.send("/change")
    await second.stop()
    third = await start_bot("webhook")
    once_more = resident_of(third, telegram, "webhook", 6005, "en")
    once_more.last_update = again.last_update
    assert await once_more.redeliver() == asked
    assert once_more.buttons() == categories


def test_a_kept_answer_reads_back_whole() -> None:
    """Everything an answer carries survives being kept: texts, buttons, a digest, a
    poster and a chart asked for, the menu's language and commands."""
    from bot.channels.answers import Answer
    from handlers.types import DigestOrder

    answer = Answer(
        language="ky",
        messages=(("Сиздин кампания", ((("Жаңы", "p:1:new"),),)), ("«Таза шаар»", ())),
        digests=(DigestOrder(3, "2026-W47", True),),
        menu_language="ky",
        menu=("inbox", "digest", "change"),
        posters=("CAB12",),
        charts=("TREE", "CAB12"),
    )
    assert Answer.from_json(answer.to_json()) == answer
