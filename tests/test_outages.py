"""The database away in the middle of traffic: while it is, every webhook answers 5xx and
nothing is sent, so Telegram and Twilio deliver again; once it is back, the redeliveries land,
nothing is lost and nothing is stored twice, and the server carried on by itself."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

import storage.db
from bot.runtime.app import Runtime
from storage.db import Database
from storage.models import Wish
from tests import places
from tests.conftest import PUBLIC_BASE_URL, StartBotOn, resident_of
from tests.fake_telegram import FakeTelegram
from tests.resident import Resident
from tests.tcp_proxy import TcpProxy
from tests.twilio import inbound_form, post_signed, twilio_settings

NUMBER = "+996555100200"
SMS_WISH = "ӨЗГӨРТ Мектептин жанында жол бузулган"
TELEGRAM_WISH = "Көчөдө жарык жок, кечинде караңгы."


async def post_update(runtime: Runtime, update: dict[str, Any]) -> int:
    secret = {"X-Telegram-Bot-Api-Secret-Token": runtime.settings.webhook_secret()}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{runtime.base_url}/telegram/webhook", json=update, headers=secret) as r,
    ):
        return r.status


async def healthz(runtime: Runtime) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{runtime.base_url}/healthz") as response,
    ):
        return response.status


async def wishes_stored(database_url: str) -> list[str]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list(await session.scalars(select(Wish.text).order_by(Wish.id)))
    finally:
        await db.close()


async def ready_to_write(runtime: Runtime, telegram: FakeTelegram) -> Resident:
    """A resident on Telegram one step before their wish is stored, and a phone with a place."""
    resident = resident_of(runtime, telegram, "webhook", 7001, "ky")
    await resident.send("/start m-tokmok")
    await resident.send("/change")
    await resident.press(places.category("street_lighting")["ky"])
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form(NUMBER, "ЖЕР tokmok"))
    return resident


async def while_away(
    runtime: Runtime, telegram: FakeTelegram, resident: Resident
) -> tuple[dict[str, Any], dict[str, str]]:
    """A Telegram update and an SMS that arrive while the database is away: both refused
    with 5xx, and nothing sent to anyone."""
    update, form = resident.text_update(TELEGRAM_WISH), inbound_form(NUMBER, SMS_WISH)
    sent_before = len(telegram.delivered())
    telegram_status, (sms_status, sms_answer) = await asyncio.gather(
        post_update(runtime, update), post_signed(runtime.base_url, "/sms/twilio", form)
    )
    assert (telegram_status, sms_status) == (503, 503)
    assert "<Message>" not in sms_answer
    assert telegram.delivered()[sent_before:] == []
    return update, form


async def after_return(
    runtime: Runtime,
    telegram: FakeTelegram,
    resident: Resident,
    update: dict[str, Any],
    form: dict[str, str],
    database_url: str,
) -> None:
    """The senders deliver again: each lands once, with its answer; a third delivery of the
    same changes nothing."""
    before = len(resident.sent_messages())
    assert await post_update(runtime, update) == 200
    status, answer = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 200 and "<Message>" in answer
    saved = resident.sent_messages()[before:]
    assert len(saved) == 1 and places.REFERENCE_LABEL["ky"] in saved[0]["text"]
    assert await post_update(runtime, update) == 200
    assert (await post_signed(runtime.base_url, "/sms/twilio", form))[0] == 200
    assert len(resident.sent_messages()) == before + 1
    stored = await wishes_stored(database_url)
    assert sorted(stored) == sorted([TELEGRAM_WISH, SMS_WISH.split(" ", 1)[1]])
    assert await healthz(runtime) == 200


async def test_sqlite_locked_past_the_busy_timeout(
    start_bot_on: StartBotOn,
    telegram: FakeTelegram,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The timeout is five seconds; a tenth of that, so that two deliveries do not wait 10 s.
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 500)
    path = tmp_path / "civicbot.db"
    url = f"sqlite+aiosqlite:///{path}"
    runtime = await start_bot_on(url, **twilio_settings())
    resident = await ready_to_write(runtime, telegram)

    # Another process holds the write lock longer than the busy timeout.
    # It waits for the bot's own brief writes (the reply's outbox row) to finish first.
    locker = sqlite3.connect(path, timeout=10, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        update, form = await while_away(runtime, telegram, resident)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    await after_return(runtime, telegram, resident, update, form, url)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{runtime.base_url}/metrics") as response,
    ):
        metrics = await response.text()
    for channel in ("telegram", "sms"):
        labels = f'channel="{channel}",reason="database"'
        assert f"civicbot_inbound_not_kept_total{{{labels}}}" in metrics


async def behind_a_proxy(start_bot_on: StartBotOn, postgres_url: str) -> tuple[Runtime, TcpProxy]:
    """The bot started on PostgreSQL through a proxy that can take the server away."""
    real = make_url(postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    return await start_bot_on(via_proxy, **twilio_settings()), proxy


async def test_postgresql_down_and_back(
    start_bot_on: StartBotOn, telegram: FakeTelegram, postgres_url: str
) -> None:
    runtime, proxy = await behind_a_proxy(start_bot_on, postgres_url)
    resident = await ready_to_write(runtime, telegram)

    await proxy.cut()  # the server stops: connections reset, new ones refused
    try:
        update, form = await while_away(runtime, telegram, resident)
        assert await healthz(runtime) == 503
    finally:
        await proxy.start()  # and starts again; the bot is not restarted
    await after_return(runtime, telegram, resident, update, form, postgres_url)
    await proxy.cut()


async def test_twilio_retries_with_connection_overrides_pass_the_signature_check(
    start_bot_on: StartBotOn, tmp_path: Path
) -> None:
    """With `#rc=5&rp=all` on the webhook URL (so that Twilio retries a 5xx), a request
    signed over that URL is accepted; one signed over another fragment is not."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
    overrides = "rc=5&rp=all"
    runtime = await start_bot_on(
        url, telegram_bot_token=None, twilio_webhook_overrides=overrides, **twilio_settings()
    )
    path = "/sms/twilio"
    for fragment, expected in (("", 200), (f"#{overrides}", 200), ("#rc=1", 403)):
        form = inbound_form(NUMBER, "ЖАРДАМ")
        status, _ = await post_signed(
            runtime.base_url, path, form, sign_url=f"{PUBLIC_BASE_URL}{path}{fragment}"
        )
        assert status == expected, fragment


async def test_postgresql_restarted_while_quiet(
    start_bot_on: StartBotOn, telegram: FakeTelegram, postgres_url: str
) -> None:
    """Pooled connections are not pinged before use (storage/db.py): after a restart nobody
    saw, the first delivery finds its connection dead, and is handled once more at once on a
    new one (handlers/dispatch.py): it lands, once, without a 5xx."""
    runtime, proxy = await behind_a_proxy(start_bot_on, postgres_url)
    resident = await ready_to_write(runtime, telegram)

    await proxy.cut()
    await proxy.start()
    update = resident.text_update(TELEGRAM_WISH)
    assert await post_update(runtime, update) == 200
    assert await post_update(runtime, update) == 200  # a redelivery changes nothing
    assert await wishes_stored(postgres_url) == [TELEGRAM_WISH]
    saved = [m for m in resident.sent_messages() if places.REFERENCE_LABEL["ky"] in m["text"]]
    assert len(saved) == 1
    await proxy.cut()
    await proxy.start()
    update = resident.text_update(TELEGRAM_WISH)
    statuses = [await post_update(runtime, update)]
    if statuses[0] != 200:
        statuses.append(await post_update(runtime, update))
    assert statuses in ([200], [503, 200])
    assert await post_update(runtime, update) == 200
    assert await wishes_stored(postgres_url) == [TELEGRAM_WISH]
    saved = [m for m in resident.sent_messages() if places.REFERENCE_LABEL["ky"] in m["text"]]
    assert len(saved) == 1
    await proxy.cut()


def test_a_background_loop_warns_when_the_database_is_away_and_errs_on_a_fault(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A loop that tries again (poll sending, notices) logs a busy or locked database as a
    warning — it comes back, nothing is lost — and a fault of ours as an error with its
    traceback."""
    import logging

    from sqlalchemy.exc import OperationalError

    from bot.channels.acks import log_retrying

    log = logging.getLogger("tests.background")
    locked = OperationalError("UPDATE poll_sends …", {}, Exception("database is locked"))
    with caplog.at_level(logging.WARNING, logger="tests.background"):
        log_retrying(log, "sending polls by sms failed", locked)
        log_retrying(log, "sending polls by sms failed", KeyError("a fault"))
    assert [(r.levelno, r.exc_info is not None) for r in caplog.records] == [
        (logging.WARNING, False),
        (logging.ERROR, True),
    ]
