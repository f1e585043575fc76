"""The web server's contract: webhook secret and body checks, setWebhook and menus on start,
/healthz and /metrics, the Telegram channel off without a token, and internal errors."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bot.acks import POISON_AFTER
from bot.app import TELEGRAM_OFF
from bot.i18n import Catalogues
from handlers import router
from handlers.context import Context
from handlers.types import Reply
from tests import places
from tests.conftest import PUBLIC_BASE_URL, Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram

START_UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 9001, "type": "private"},
        "from": {"id": 9001, "is_bot": False, "first_name": "A"},
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    },
}


async def post(url: str, body: bytes | str, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_webhook_refuses_missing_or_forged_secret_and_malformed_bodies(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    runtime = await start_bot("webhook")
    url = f"{runtime.base_url}/telegram/webhook"
    secret = runtime.settings.webhook_secret()
    good = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    update = json.dumps(START_UPDATE)
    assert (await post(url, update, {}))[0] == 401
    assert (await post(url, update, {**good, "X-Telegram-Bot-Api-Secret-Token": "forged"}))[
        0
    ] == 401
    for body in ("{not json", "[1, 2]", '{"message": {}}', '{"update_id": 5, "message": "x"}'):
        assert (await post(url, body, good))[0] == 400, body
    assert (await post(url, b"\xff\xfe", good))[0] == 400
    assert telegram.messages_to(9001) == []  # nothing refused reached the handlers

    assert (await post(url, update, good)) == (200, {"ok": True})
    assert len(telegram.messages_to(9001)) == 1


async def test_start_sets_the_webhook_with_its_secret_and_menus_per_language(
    start_bot: StartBot, telegram: FakeTelegram, catalogues: Catalogues
) -> None:
    runtime = await start_bot("webhook")
    assert telegram.webhook_url == f"{PUBLIC_BASE_URL}/telegram/webhook"
    assert telegram.webhook_secret == runtime.settings.webhook_secret()
    assert telegram.called("setWebhook")[0].params["allowed_updates"] == [
        "message",
        "callback_query",
    ]

    menus = {
        c.params.get("language_code"): c.params["commands"]
        for c in telegram.called("setMyCommands")
    }
    assert set(menus) == {None, "ky", "ru", "en"}
    assert menus[None] == menus["ky"]  # Kyrgyz is the default menu
    for language in places.LANGUAGES:
        described = {c["command"]: c["description"] for c in menus[language]}
        assert list(described) == list(router.MENU)
        assert described["great"] == places.kind("great")[language]
    assert not telegram.called("getUpdates")


async def test_polling_mode_drops_the_webhook_and_polls(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    telegram.webhook_url = "https://left.over/from-before"
    runtime = await start_bot("polling")
    resident = resident_of(runtime, telegram, "polling", 9002, "en")
    assert await resident.send("/help")
    assert telegram.called("deleteWebhook")
    assert telegram.called("getUpdates")[-1].params["timeout"] > 0


async def test_healthz_and_metrics(start_bot: StartBot, telegram: FakeTelegram) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9003, "en")
    await resident.send("/start m-osh")
    await resident.leave_wish("change", "Roads", "Potholes everywhere")
    await resident.redeliver()

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{runtime.base_url}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{runtime.base_url}/metrics") as response:
            assert response.status == 200
            metrics = await response.text()
    assert 'civicbot_wishes{kind="change"} 1.0' in metrics
    assert 'civicbot_people{channel="telegram"} 1.0' in metrics
    assert 'civicbot_inbound_total{channel="telegram",kind="duplicate"}' in metrics
    # What an operator watches (docs/operations.md).
    assert 'civicbot_request_seconds_count{endpoint="/telegram/webhook",status="2xx"}' in metrics
    assert 'civicbot_outbox_sends_total{channel="telegram",result="sent"}' in metrics
    assert 'civicbot_outbox_depth{channel="telegram"} 0.0' in metrics
    assert 'civicbot_scheduler_last_success_timestamp_seconds{job="catch_up"}' in metrics
    assert "process_resident_memory_bytes" in metrics


async def test_without_a_token_the_server_runs_and_says_telegram_is_off(
    start_bot: StartBot, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None)
    assert runtime.telegram is None
    assert TELEGRAM_OFF in capsys.readouterr().out
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{runtime.base_url}/healthz") as response:
            assert response.status == 200
        async with http.post(f"{runtime.base_url}/telegram/webhook", json=START_UPDATE) as r:
            assert r.status == 404


async def test_a_failure_before_the_commit_is_not_acknowledged_until_it_repeats(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: Context, _argument: str) -> list[Reply]:
        ctx.start_flow(then="wish", kind="change")  # a change that must be rolled back
        raise RuntimeError("a fault in a handler")

    runtime = await start_bot("webhook")
    secret = {"X-Telegram-Bot-Api-Secret-Token": runtime.settings.webhook_secret()}
    resident = resident_of(runtime, telegram, "webhook", 9004, "ru")
    await resident.send("/start m-tokmok")
    await resident.send("/great")
    monkeypatch.setitem(router.COMMANDS, "cancel", broken)
    sent_before = len(resident.sent_messages())
    update = resident.text_update("/cancel")
    async with aiohttp.ClientSession() as http:
        for _ in range(POISON_AFTER - 1):
            async with http.post(
                f"{runtime.base_url}/telegram/webhook", json=update, headers=secret
            ) as response:
                assert response.status == 503  # not kept: Telegram sends it again
        assert len(resident.sent_messages()) == sent_before  # and nothing was said

        # The flow under way is untouched, and the failed update was not marked as handled:
        monkeypatch.undo()
        async with http.post(
            f"{runtime.base_url}/telegram/webhook", json=update, headers=secret
        ) as response:
            assert response.status == 200
    assert [m["text"] for m in resident.sent_messages()[sent_before:]] == [say("ru", "cancel.done")]


async def test_a_fault_that_repeats_is_apologised_for_and_acknowledged(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: Context, _argument: str) -> list[Reply]:
        raise RuntimeError("a fault in a handler")

    runtime = await start_bot("webhook")
    secret = {"X-Telegram-Bot-Api-Secret-Token": runtime.settings.webhook_secret()}
    resident = resident_of(runtime, telegram, "webhook", 9006, "ru")
    await resident.send("/start m-tokmok")
    monkeypatch.setitem(router.COMMANDS, "cancel", broken)
    sent_before = len(resident.sent_messages())
    update = resident.text_update("/cancel")
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(POISON_AFTER):
            async with http.post(
                f"{runtime.base_url}/telegram/webhook", json=update, headers=secret
            ) as response:
                statuses.append(response.status)
    assert statuses == [503] * (POISON_AFTER - 1) + [200]
    assert [m["text"] for m in resident.sent_messages()[sent_before:]] == [
        say("ru", "error.internal")
    ]


async def test_a_failing_set_webhook_is_retried(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    telegram.failures["setWebhook"] = 1
    runtime = await start_bot("webhook")
    assert len(telegram.called("setWebhook")) == 2
    assert telegram.webhook_url == f"{PUBLIC_BASE_URL}/telegram/webhook"
    resident = resident_of(runtime, telegram, "webhook", 9005, "ky")
    assert await resident.send("/help")
