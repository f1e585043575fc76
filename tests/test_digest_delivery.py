"""Delivering digests when things go wrong: Bot API 429s and 5xx, a recipient who blocked
the bot, a send that keeps failing, a sender killed in the middle of a fan-out, and a
server that was down when the week's digests were due."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import signal

import pytest
from sqlalchemy import delete, select, update

from bot.digests import delivery
from storage.db import Database
from storage.models import DigestDelivery, DigestPeriod, Person, Role, utcnow
from tests.conftest import Civicbot, StartBot
from tests.digests import (
    civicbot_process,
    delivery_env,
    last_week,
    official_by_sms,
    official_on_telegram,
    sent_to,
    wish_last_week,
)
from tests.fake_telegram import FakeTelegram
from tests.serve_process import free_port
from tests.twilio import FakeTwilio, inbound_form, post_signed, twilio_settings


async def deliveries(database_url: str) -> list[DigestDelivery]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list((await session.scalars(select(DigestDelivery))).all())
    finally:
        await db.close()


async def officials(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str, n: int
) -> list[int]:
    runtime = await start_bot("webhook")
    chats = [9100 + i for i in range(n)]
    for chat in chats:
        await official_on_telegram(runtime, telegram, civicbot, chat, "ru")
    await wish_last_week(
        runtime, telegram, database_url, 9901, "en", "lenin", ("change", "roads", "Potholes")
    )
    await runtime.stop()
    return chats


async def test_429s_and_5xx_are_waited_out_and_a_blocked_recipient_is_skipped(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chats = await officials(start_bot, telegram, civicbot, database_url, 6)
    blocked = chats[-1]
    telegram.blocked_chats.add(blocked)
    telegram.rate_limit = 4  # far below our pace: Telegram answers 429 with retry_after
    telegram.failures["sendPhoto"] = 1  # one 502 Bad Gateway
    monkeypatch.setattr(delivery, "BACKOFF", (0, 0, 0, 0, 0))
    delivery_env(monkeypatch, telegram)
    start = len(telegram.calls)

    rc, out, err = await civicbot("digest", "run")
    assert rc == 0, err
    assert telegram.too_many > 0
    for chat in chats[:-1]:  # each part once, the text not repeated after the 502
        assert [kind for kind, _ in sent_to(telegram, chat, start)] == ["text", "photo"]
    assert sent_to(telegram, blocked, start) == []

    rows = {row.person_id: row for row in await deliveries(database_url)}
    statuses = sorted(row.status for row in rows.values())
    assert statuses == ["sent"] * 5 + ["skipped"]
    [retried] = [row for row in rows.values() if row.attempts == 2]
    assert retried.status == "sent" and "Bad Gateway" in (retried.error or "")
    [skipped] = [row for row in rows.values() if row.status == "skipped"]
    assert skipped.error == "blocked the bot"
    db = Database(database_url)
    try:
        async with db.session() as session:
            person = await session.get(Person, skipped.person_id)
            assert person is not None and person.opted_out
    finally:
        await db.close()
    assert out.startswith(f"{last_week()}: sent 5, pending 0, sending 0, skipped 1")


async def test_a_send_that_keeps_failing_is_given_up_and_recorded(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await officials(start_bot, telegram, civicbot, database_url, 1)
    telegram.failures["sendMessage"] = 100
    monkeypatch.setattr(delivery, "BACKOFF", (0, 0, 0, 0, 0))
    delivery_env(monkeypatch, telegram)
    rc, out, _ = await civicbot("digest", "run")
    assert rc == 0 and "failed 1" in out
    [row] = await deliveries(database_url)
    assert (row.status, row.attempts, row.messages) == ("failed", delivery.MAX_ATTEMPTS, 0)
    # The operator's log line names the municipality, the week, the channel and the error.
    [given_up] = [r.getMessage() for r in caplog.records if "failed for good" in r.getMessage()]
    assert f"digest {last_week()} for lenin by telegram failed for good:" in given_up

    # With the default back-off a failure waits: the run ends and the row stays due later.
    telegram.failures["sendMessage"] = 1
    monkeypatch.setattr(delivery, "BACKOFF", (600,) * 5)
    await _reset(database_url)
    rc, out, err = await civicbot("digest", "run")
    assert rc == 0 and "pending 1" in out and "retries every minute" in err
    [row] = await deliveries(database_url)
    assert row.status == "pending" and row.next_attempt_at > dt.datetime.now(dt.UTC)


async def test_telegram_unreachable_leaves_its_digests_waiting_and_says_so(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`digest run` when the Bot API does not answer: one line says so, nothing is sent or
    spent, and the official's digest waits for a run that reaches Telegram."""
    await officials(start_bot, telegram, civicbot, database_url, 1)
    delivery_env(monkeypatch, telegram)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{free_port()}/bot")
    rc, _, err = await civicbot("digest", "run")
    assert rc == 0 and "civicbot: Telegram is not reachable" in err, err
    [row] = await deliveries(database_url)
    assert (row.status, row.attempts, row.messages) == ("pending", 0, 0)


async def _reset(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(update(DigestDelivery).values(status="pending", attempts=0))
    finally:
        await db.close()


async def test_a_sender_killed_mid_fan_out_leaves_the_rest_to_the_next_run_and_repeats_nothing(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chats = await officials(start_bot, telegram, civicbot, database_url, 20)
    start = len(telegram.calls)
    telegram.stall_after = 15  # then every send hangs: the moment to pull the plug
    process = await civicbot_process(database_url, telegram, "digest", "run")
    await asyncio.wait_for(telegram.stalled.wait(), 60)
    await asyncio.sleep(0.5)  # the other workers reach the stalled server too
    process.send_signal(signal.SIGKILL)
    await process.wait()

    telegram.stall_after = None
    delivery_env(monkeypatch, telegram)
    rc, _, err = await civicbot("digest", "run")
    assert rc == 0, err
    rows = {row.person_id: row for row in await deliveries(database_url)}
    in_flight = [row for row in rows.values() if row.status == "sending"]
    assert 1 <= len(in_flight) <= delivery.WORKERS
    assert sorted({row.status for row in rows.values()}) == ["sending", "sent"]
    for chat in chats:
        kinds = [kind for kind, _ in sent_to(telegram, chat, start)]
        assert kinds in (["text", "photo"], ["text"], []), (chat, kinds)  # never twice
    complete = [c for c in chats if len(sent_to(telegram, c, start)) == 2]
    assert len(complete) == len(chats) - len(in_flight)

    # After the lease, the dead sender's rows are given up as interrupted, not resent.
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            stale = dt.datetime.now(dt.UTC) - delivery.LEASE - dt.timedelta(minutes=1)
            await session.execute(
                update(DigestDelivery)
                .where(DigestDelivery.status == "sending")
                .values(claimed_at=stale)
            )
    finally:
        await db.close()
    sent_before = len(telegram.delivered())
    rc, out, _ = await civicbot("digest", "run")
    assert f"interrupted {len(in_flight)}" in out
    assert len(telegram.delivered()) == sent_before


async def test_a_new_database_missed_no_digest(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Officials who joined after the last weekly run (as on a new database) were owed
    nothing: no "missed" line, nothing sent on the next start."""
    caplog.set_level(logging.INFO)
    chats = await officials(start_bot, telegram, civicbot, database_url, 1)
    start = len(telegram.calls)
    runtime = await start_bot("webhook")
    await asyncio.sleep(0.5)
    await runtime.stop()
    assert "missed" not in caplog.text
    assert all(sent_to(telegram, chat, start) == [] for chat in chats)
    assert await deliveries(database_url) == []


async def test_a_week_missed_while_the_server_was_down_is_sent_on_start(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    chats = await officials(start_bot, telegram, civicbot, database_url, 2)
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(delete(DigestPeriod))  # the week's run never happened
            # ...though the officials were there when it was due.
            await session.execute(update(Role).values(created_at=utcnow() - dt.timedelta(days=8)))
    finally:
        await db.close()
    start = len(telegram.calls)

    # Due every midnight: the run last due reports on last week whatever the day (with the
    # default, Monday 09:00, a start on a Monday before nine owes the week before last).
    daily = "0 0 * * *"
    runtime = await start_bot("webhook", digest_cron=daily)
    await telegram.wait_for_sends(
        lambda: all(len(sent_to(telegram, chat, start)) == 2 for chat in chats)
    )
    await runtime.stop()
    assert {row.period for row in await deliveries(database_url)} == {str(last_week())}

    again = len(telegram.calls)
    runtime = await start_bot("webhook", digest_cron=daily)  # planned already: nothing more
    await asyncio.sleep(1.0)
    await runtime.stop()
    assert all(sent_to(telegram, chat, again) == [] for chat in chats)


async def test_an_official_who_sent_stop_is_skipped(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    twilio = FakeTwilio()
    await twilio.start()
    try:
        runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
        for phone in ("+996555730001", "+996555730002"):
            await official_by_sms(runtime, civicbot, phone, "JOIN")
        status, _ = await post_signed(
            runtime.base_url, "/sms/twilio", inbound_form("+996555730002", "STOP")
        )
        assert status == 200
        await runtime.stop()
        twilio.sent.clear()
        delivery_env(monkeypatch, telegram, twilio.base_url)
        rc, out, _ = await civicbot("digest", "run")
    finally:
        await twilio.stop()
    assert rc == 0 and "sent 1," in out and "skipped 1" in out
    assert [m["To"] for m in twilio.sent] == ["+996555730001"]
    [skipped] = [row for row in await deliveries(database_url) if row.status == "skipped"]
    assert skipped.error == "opted out"


async def test_a_whatsapp_official_gets_the_digest_as_the_approved_template(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A digest comes days after the official last wrote: WhatsApp takes it only as an
    approved template (free text outside the 24 hours would be refused)."""
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await official_by_sms(runtime, civicbot, "whatsapp:+996555730003", "JOIN")
    await wish_last_week(
        runtime, telegram, database_url, 9903, "en", "lenin", ("change", "roads", "Potholes")
    )
    await runtime.stop()
    twilio.sent.clear()
    delivery_env(monkeypatch, telegram, twilio.base_url)
    monkeypatch.setenv("TWILIO_WHATSAPP_FROM", "whatsapp:+15005550006")
    monkeypatch.setenv("TWILIO_WHATSAPP_CONTENT_SID", "HX" + "1" * 32)
    rc, out, _ = await civicbot("digest", "run")
    assert rc == 0 and "sent 1," in out
    [message] = twilio.sent
    assert message["To"] == "whatsapp:+996555730003" and "Body" not in message
    assert message["ContentSid"] == "HX" + "1" * 32
    assert "1" in json.loads(message["ContentVariables"])["1"]  # the summary: 1 wish
