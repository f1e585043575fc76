"""Inputs that once raised: each now gets a clear answer (or a 400 for what is not a
Telegram update at all), never a traceback, and what is stored is clean."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from storage.models import Wish
from tests.android_gateway import FakeGateway, android_settings, post_event, received
from tests.conftest import StartBot, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.test_outages import post_update
from tests.twilio import inbound_form, post_signed, twilio_settings

NUMBER = "+996555444333"


def nested(levels: int) -> bytes:
    """An update whose message nests `levels` deep (json.dumps itself would give up)."""
    return b'{"update_id": 1, "message": ' + b'{"a": ' * levels + b"{}" + b"}" * levels + b"}"


async def post_raw(runtime: Any, body: bytes) -> int:
    headers = {
        "X-Telegram-Bot-Api-Secret-Token": runtime.settings.webhook_secret(),
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{runtime.base_url}/telegram/webhook", data=body, headers=headers) as r,
    ):
        return r.status


async def test_odd_telegram_updates(
    start_bot: StartBot, telegram: FakeTelegram, say: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 7401, "ru")
    await resident.send("/start m-tokmok")
    message = resident.text_update("hello")["message"]

    for levels in (40, 1000, 100_000):
        assert await post_raw(runtime, nested(levels)) == 400, levels
    refused = {
        "a message without a chat": {
            "update_id": 2,
            "message": {k: v for k, v in message.items() if k != "chat"},
        },
        "a text that is not text": {"update_id": 3, "message": {**message, "text": 12345}},
        "a text that is a list": {"update_id": 4, "message": {**message, "text": ["a"]}},
        "a date past the end of time": {"update_id": 6, "message": {**message, "date": 1e300}},
        "a command with no text": {  # the entity says /start; there is nothing it is in
            "update_id": 7,
            "message": {
                **{k: v for k, v in message.items() if k != "text"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        },
    }
    for what, update in refused.items():
        assert await post_update(runtime, update) == 400, what

    # A button pressed on a message too old to come with the update: no chat in it.
    sent_before = len(resident.sent_messages())
    query = {"id": "cb-old", "from": resident._user(), "chat_instance": "ci", "data": "x:y"}
    assert await post_update(runtime, {"update_id": 5, "callback_query": query}) == 200
    answers = [m["text"] for m in resident.sent_messages()[sent_before:]]
    assert len(answers) == 1 and say("ru", "error.stale_button") in answers[0]

    assert "Traceback" not in caplog.text


async def test_odd_sms(start_bot: StartBot, database_url: str, say: Any) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())

    async def send(body: str) -> str:
        status, answer = await post_signed(
            runtime.base_url, "/sms/twilio", inbound_form(NUMBER, body)
        )
        assert status == 200, answer
        return answer

    # A place number beyond every integer type: a plain "no such place".
    for body in ("PLACE 99999999999999999999", "ЖЕР 2147483648", "ЖЕР ²³", "ПАРА ² 100"):
        answer = await send(body)
        assert "<Message>" in answer and "Traceback" not in answer, body

    # NUL and other control characters are taken out before anything is stored.
    await send("ЖЕР tokmok")
    await send("ӨЗГӨРТ Суу\x00 жок\x07, \x1bкөпүрө\x7f бузук")
    texts = [wish.text for wish in await rows(database_url, Wish)]
    assert texts == ["Суу жок, көпүрө бузук"]


async def test_a_surrogate_alone_from_the_phone_gateway_is_taken_out(
    start_bot: StartBot, database_url: str
) -> None:
    """The gateway's JSON may escape half a character ("\\ud800"), which no UTF-8 and no
    JSON written back can hold: taken out with the control characters, the rest kept."""
    gateway = FakeGateway()
    await gateway.start()
    try:
        runtime = await start_bot("webhook", **android_settings(gateway.base_url))
        assert (await post_event(runtime.base_url, received(NUMBER, "ЖЕР tokmok")))[0] == 204
        body = received(NUMBER, "ӨЗГӨРТ Суу HALF жок").replace(b"HALF", b"\\ud83d")
        assert (await post_event(runtime.base_url, body))[0] == 204
        await runtime.stop()
    finally:
        await gateway.stop()
    texts = [wish.text for wish in await rows(database_url, Wish)]
    assert texts == ["Суу  жок"]


async def test_odd_bodies_on_the_sms_webhook(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    form = inbound_form(NUMBER, "ЖАРДАМ", NumMedia="many")
    status, _ = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 400
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{runtime.base_url}/sms/twilio", data=b"\xff\xfe") as response,
    ):
        assert response.status == 403  # unsigned: refused before anything is read into it
