"""Flood limits and Telegram's rate limits: one sender cannot fill a digest or run up a bill,
other residents are not affected, and when Telegram says "too many requests" every answer
still arrives, once and in order."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from bot.channels.sms.channel import ANSWERS as SMS_ANSWERS
from bot.channels.telegram.channel import ANSWERS_PER_MINUTE
from handlers.flood import WISHES_PER_HOUR
from storage.db import Database
from storage.models import Wish
from tests.conftest import StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.twilio import inbound_form, post_signed, twilio_settings

FLOODER = "+996555111222"
NEIGHBOUR = "+996555333444"


async def wish_count(database_url: str) -> int:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.count(Wish.id))) or 0)
    finally:
        await db.close()


async def test_a_phone_over_the_hourly_limit_is_told_once_then_kept_quiet(
    start_bot: StartBot, database_url: str, say: Any
) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    answers = []
    for number in range(WISHES_PER_HOUR + 5):
        form = inbound_form(FLOODER, f"ӨЗГӨРТ Жол бузулган, №{number}")
        status, answer = await post_signed(runtime.base_url, "/sms/twilio", form)
        assert status == 200
        answers.append(answer)

    assert all("<Message>" in answer for answer in answers[:WISHES_PER_HOUR])
    notice = say("ky", "wish.flood", limit=WISHES_PER_HOUR)
    assert "<Message>" in answers[WISHES_PER_HOUR]
    assert str(WISHES_PER_HOUR) in answers[WISHES_PER_HOUR]
    assert notice not in answers[WISHES_PER_HOUR - 1]
    assert all("<Message>" not in answer for answer in answers[WISHES_PER_HOUR + 1 :])
    assert await wish_count(database_url) == WISHES_PER_HOUR  # nothing beyond it is kept

    # Another resident is not affected.
    status, answer = await post_signed(
        runtime.base_url, "/sms/twilio", inbound_form(NEIGHBOUR, "ӨЗГӨРТ Суу жок")
    )
    assert status == 200 and "<Message>" in answer
    assert await wish_count(database_url) == WISHES_PER_HOUR + 1


async def test_the_limit_holds_on_telegram_too(
    start_bot: StartBot, telegram: FakeTelegram, database_url: str, say: Any
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 6601, "ru")
    await resident.send("/start m-tokmok")
    for number in range(WISHES_PER_HOUR):
        await resident.send(f"/great Новая дорога, спасибо! №{number}")
        await resident.press(resident.buttons()[0])
    assert await wish_count(database_url) == WISHES_PER_HOUR
    await resident.send("/great Ещё одна")
    replies = await resident.press(resident.buttons()[0])
    assert replies == [say("ru", "wish.flood", limit=WISHES_PER_HOUR)]
    await resident.send("/great И ещё")
    assert await resident.press(resident.buttons()[0]) == []  # told once; then quiet
    assert await wish_count(database_url) == WISHES_PER_HOUR


async def test_answers_wait_out_telegrams_limit_in_a_chat_and_arrive_in_order(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    telegram.chat_rate_limit = 2  # Telegram answers 429 past two messages a second
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 6602, "ky")
    words = [f"nothing{number}" for number in range(8)]
    for word in words:  # a resident who writes faster than Telegram lets us answer
        await resident.send(f"/{word}")
    answers = [call.params["text"] for call in telegram.delivered_to(resident.user_id)]
    assert [next(w for w in words if w in answer) for answer in answers] == words
    assert telegram.too_many >= 1  # the limit was met, and waited out
    assert telegram.too_many <= 3  # once met, the chat's messages are spaced

    # Several at once: each answered exactly once.
    more = [f"again{number}" for number in range(6)]
    updates = [resident.text_update(f"/{word}") for word in more]
    await asyncio.gather(*(resident.deliver(update) for update in updates))
    delivered = telegram.delivered_to(resident.user_id)
    answers = [call.params["text"] for call in delivered][len(words) :]
    assert sorted(next(w for w in more if w in answer) for answer in answers) == sorted(more)


async def test_a_chat_that_floods_is_answered_up_to_its_budget_then_told_once(
    start_bot: StartBot, telegram: FakeTelegram, say: Any
) -> None:
    runtime = await start_bot("webhook")
    flooder = resident_of(runtime, telegram, "webhook", 6603, "en")
    answered = [await flooder.send(f"/nothing{n}") for n in range(ANSWERS_PER_MINUTE + 3)]
    assert all(len(replies) == 1 for replies in answered[:ANSWERS_PER_MINUTE])
    assert answered[ANSWERS_PER_MINUTE] == [say("en", "flood.messages")]
    assert answered[ANSWERS_PER_MINUTE + 1 :] == [[], []]
    neighbour = resident_of(runtime, telegram, "webhook", 6604, "en")
    assert len(await neighbour.send("/nothing")) == 1


async def test_a_phone_that_floods_is_answered_up_to_its_budget_then_told_once(
    start_bot: StartBot,
) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    answers = []
    for _ in range(SMS_ANSWERS + 2):
        status, answer = await post_signed(
            runtime.base_url, "/sms/twilio", inbound_form(FLOODER, "HELP")
        )
        assert status == 200
        answers.append(answer)
    assert all("<Message>" in answer for answer in answers[: SMS_ANSWERS + 1])
    assert answers[SMS_ANSWERS] != answers[0]  # the notice, not the help
    assert "<Message>" not in answers[SMS_ANSWERS + 1]
    status, answer = await post_signed(
        runtime.base_url, "/sms/twilio", inbound_form(NEIGHBOUR, "HELP")
    )
    assert "<Message>" in answer
