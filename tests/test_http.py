"""The web server's contract: webhook secret and body checks, setWebhook and menus on start,
/healthz and /metrics, the Telegram channel off without a token, and internal errors."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from bot.channels.acks import POISON_AFTER
from bot.channels.telegram.registered import TELEGRAM_OFF
from bot.runtime.i18n import Catalogues
from handlers import roles, router
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


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_a_press_answered_without_a_toast_rides_in_the_webhook_response(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, mode: str
) -> None:
    """By webhook, the answer that stops a button's spinner is the webhook's response (one
    request fewer; Telegram makes the call); by polling there is no response to carry it, so
    it is a request of its own. The answer to the press comes either way."""
    runtime = await start_bot(mode)
    resident = resident_of(runtime, telegram, mode, 6101, "en")
    await resident.send("/start m-osh")
    await resident.send("/change")
    replies = await resident.press("Roads")
    assert replies == [say("en", "wish.text_prompt", category="Roads", limit=1000)]
    [answer] = telegram.called("answerCallbackQuery")
    assert answer.ok and answer.in_response == (mode == "webhook")
    assert "text" not in answer.params  # no toast: the press's answer is a message
    # Any other update's response is a body Telegram ignores: no second call.
    await resident.send("Potholes on the main street")
    assert len(telegram.called("answerCallbackQuery")) == 1


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
        assert list(described) == list(roles.RESIDENT_MENU)
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
    requests = 'civicbot_http_request_duration_seconds_count{endpoint="/telegram/webhook"'
    assert f'{requests},status="2xx"}}' in metrics
    assert 'civicbot_outbox_sends_total{channel="telegram",result="sent"}' in metrics
    assert 'civicbot_outbox_depth{channel="telegram"} 0.0' in metrics
    assert 'civicbot_scheduler_last_success_timestamp_seconds{job="catch_up"}' in metrics
    assert "process_resident_memory_bytes" in metrics


async def test_without_a_token_the_server_runs_and_says_telegram_is_off(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # a hint of the start: a log line (bot/runtime/logs.py)
    runtime = await start_bot("webhook", telegram_bot_token=None)
    assert runtime.telegram is None
    assert TELEGRAM_OFF in caplog.messages
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


METRICS_TOKEN = "metrics-token-for-the-tests"


async def status_of(url: str, **headers: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        await response.read()
        return response.status


async def test_unprotected_metrics_answer_only_a_loopback_peer_no_proxy_sent(
    start_bot: StartBot,
) -> None:
    runtime = await start_bot("webhook")
    metrics = f"{runtime.base_url}/metrics"
    assert await status_of(metrics) == 200  # `make run` on one's own machine
    # A proxy on the same machine passes the world's requests on from 127.0.0.1.
    assert await status_of(metrics, **{"X-Forwarded-For": "203.0.113.9"}) == 404
    assert await status_of(metrics, Forwarded="for=203.0.113.9;proto=https") == 404
    assert await status_of(metrics, **{"X-Real-IP": "203.0.113.9"}) == 404
    for header in ("X-Forwarded-Proto", "X-Forwarded-Host", "Via"):  # any proxy's mark
        assert await status_of(metrics, **{header: "https"}) == 404
    assert await status_of(f"{runtime.base_url}/healthz", **{"X-Forwarded-For": "1.2.3.4"}) == 200

    # A trusted proxy is never "this machine", headers or not.
    behind = await start_bot("webhook", trusted_proxies=("127.0.0.1",))
    assert await status_of(f"{behind.base_url}/metrics") == 404


async def test_metrics_need_the_bearer_token_once_one_is_set(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook", metrics_token=METRICS_TOKEN)
    url = f"{runtime.base_url}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    for wrong in (
        "Bearer not-the-token",
        f"Basic {METRICS_TOKEN}",
        METRICS_TOKEN,
        "Bearer ",
        "Bearer токен",
    ):
        assert await status_of(url, Authorization=wrong) == 401, wrong
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as response,
    ):
        assert response.status == 200 and "civicbot_" in await response.text()
    # Bytes that are not UTF-8 (as a header may carry them): refused too, not a 500.
    reader, writer = await asyncio.open_connection("127.0.0.1", runtime.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n")
    assert (await reader.readline()).startswith(b"HTTP/1.1 401")
    writer.close()
    await writer.wait_closed()
    # Through a proxy too: the token is what counts.
    through = {"Authorization": f"bearer {METRICS_TOKEN}", "X-Forwarded-For": "203.0.113.9"}
    assert await status_of(url, **through) == 200
    assert await status_of(f"{runtime.base_url}/healthz") == 200


async def test_metrics_on_a_port_of_their_own_and_not_on_the_main_one(
    start_bot: StartBot,
) -> None:
    runtime = await start_bot("webhook", metrics_port=0)
    assert runtime.metrics_url is not None and runtime.metrics_url.startswith("http://127.0.0.1:")
    assert runtime.metrics_url != f"{runtime.base_url}/metrics"
    async with aiohttp.ClientSession() as http, http.get(runtime.metrics_url) as response:
        assert response.status == 200 and "civicbot_" in await response.text()
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await status_of(f"{runtime.base_url}/metrics") == 404
    assert await status_of(f"{runtime.base_url}/healthz") == 200

    # With a token as well, the token is asked for there, and the main port still says 404.
    both = await start_bot("webhook", metrics_port=0, metrics_token=METRICS_TOKEN)
    assert both.metrics_url is not None
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert await status_of(both.metrics_url) == 401
    assert await status_of(both.metrics_url, **bearer) == 200
    assert await status_of(f"{both.base_url}/metrics", **bearer) == 404

    # Stopping the service closes that site too.
    own = both.metrics_url
    await both.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await status_of(own)


def test_metrics_settings_are_checked() -> None:
    from bot.runtime.config import ConfigError, Settings

    read = Settings.from_env({"METRICS_PORT": "9100", "METRICS_TOKEN": METRICS_TOKEN})
    assert (read.metrics_host, read.metrics_port, read.metrics_token) == (
        "127.0.0.1",
        9100,
        METRICS_TOKEN,
    )
    assert Settings.from_env({}).metrics_port is None
    with pytest.raises(ConfigError, match="METRICS_TOKEN: 5 characters"):
        Settings.from_env({"METRICS_TOKEN": "short"})
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        Settings.from_env({"METRICS_PORT": "70000"})
