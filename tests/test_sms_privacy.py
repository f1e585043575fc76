"""Phone numbers and message texts stay out of the logs; failures answer briefly."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.channels.acks import POISON_AFTER
from handlers import router
from handlers.context import Context
from handlers.types import Reply
from storage.db import Database
from storage.models import Person, Wish
from tests.conftest import StartBot
from tests.twilio import inbound_form, post_signed, twilio_settings

NUMBER = "+996555987654"


async def test_logs_carry_no_number_and_no_text(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="handlers")
    caplog.set_level(logging.DEBUG, logger="storage")
    caplog.set_level(logging.INFO)
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    for body in ("ӨЗГӨРТ Базардын жанында жарык жок", "ЖЕР 101", "ЖАРДАМ"):
        await post_signed(runtime.base_url, "/sms/twilio", inbound_form(NUMBER, body))

    async def broken(ctx: Context, _argument: str) -> list[Reply]:
        raise RuntimeError("handler failed")

    monkeypatch.setitem(router.COMMANDS, "forget", broken)
    form = inbound_form(NUMBER, "ӨЧҮР Базардын жанында")
    for _ in range(POISON_AFTER - 1):  # not kept: Twilio is asked to send it again
        status, answer = await post_signed(runtime.base_url, "/sms/twilio", form)
        assert status == 503 and NUMBER not in answer and "Базардын" not in answer
    status, answer = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 200 and "Кечиресиз" in answer  # a fault that repeats: the apology
    assert "Traceback" not in answer and "RuntimeError" not in answer

    assert "inbound sms failed" in caplog.text  # the failure itself is logged…
    for secret in (NUMBER, NUMBER[1:], "555987654", "Базардын"):
        assert secret not in caplog.text  # …without the number or the text


async def test_a_failed_message_stores_nothing(
    start_bot: StartBot, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: Context, _argument: str) -> list[Reply]:
        await router.COMMANDS["place"](ctx, "101")  # a change that must be rolled back
        raise RuntimeError("handler failed")

    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    monkeypatch.setitem(router.COMMANDS, "change", broken)
    form = inbound_form(NUMBER, "ИЗМЕНИТЬ Нет воды")
    status, answer = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 503 and "<Message>" not in answer  # no answer: Twilio sends it again

    db = Database(database_url)
    try:
        async with db.session() as session:
            assert await session.scalar(select(func.count(Person.id))) == 0
            assert await session.scalar(select(func.count(Wish.id))) == 0
    finally:
        await db.close()

    # Twilio's retry of the same message is handled afresh once the fault is gone.
    monkeypatch.undo()
    status, answer = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 200 and "Спасибо" in answer
