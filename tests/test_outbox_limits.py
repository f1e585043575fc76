"""Telegram's rate limits on the real wire (the fake Bot API answering 429): an answer waits a
limit out however many 429s it takes, in its chat's order; one limited for longer than
SEND_GIVE_UP_MINUTES fails loudly — logged, counted, recorded for its person — never silently.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from bot.channels import outbox
from bot.channels.outbox import Pacer
from storage.models import OutboundMessage, Person
from tests.conftest import StartBot, metric_value, resident_of, rows
from tests.fake_telegram import FakeTelegram

COMMANDS = ("/help", "/privacy", "/help", "/privacy")


def given_up_count(reason: str) -> float:
    return metric_value("civicbot_outbox_given_up_total", channel="telegram", reason=reason)


async def test_answers_wait_out_a_rate_limit_that_ends_in_order(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 6101, "ky")
    await resident.send("/start m-karakol")
    expected = [text for command in COMMANDS for text in await resident.send(command)]

    # Six 429s in a row for each answer, and more: the limit lasts longer than the five
    # waits an answer used to be given, and then ends.
    telegram.throttle(6101, retry_after=1, seconds=6.5)
    since = len(telegram.calls)
    deliveries: list[asyncio.Future[None]] = []
    for command in COMMANDS:  # one after another, as the resident taps
        deliveries.append(asyncio.ensure_future(resident.deliver(resident.text_update(command))))
        await asyncio.sleep(0.3)
    await asyncio.gather(*deliveries)

    assert [c.params["text"] for c in telegram.delivered_to(6101, since)] == expected
    assert telegram.too_many >= 6


async def test_an_answer_limited_too_long_fails_loudly(
    start_bot: StartBot,
    telegram: FakeTelegram,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = await start_bot("webhook", send_give_up_minutes=0.05)  # three seconds
    resident = resident_of(runtime, telegram, "webhook", 6102, "ru")
    await resident.send("/start m-osh")
    pieces = len(await resident.send("/help"))
    assert pieces > 1  # so that the rest of an answer is seen to go with its first message
    given_up, with_it = given_up_count("rate_limited"), given_up_count("with_previous")

    telegram.throttle(6102, retry_after=1, seconds=60)
    since = len(telegram.calls)
    with caplog.at_level(logging.ERROR, logger="bot.channels.outbox"):
        await resident.send("/help")
    assert telegram.delivered_to(6102, since) == []

    assert any("given up" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert given_up_count("rate_limited") == given_up + 1
    assert given_up_count("with_previous") == with_it + pieces - 1  # not each waited out
    person = next(p for p in await rows(database_url, Person) if p.channel_user_id == "6102")
    records = await rows(database_url, OutboundMessage)
    failed = [(m.person_id, m.channel, m.status, m.note) for m in records]
    assert failed == [(person.id, "telegram", "failed", "rate-limited for over 0.05 min")]

    telegram.throttled.clear()  # the limit ends: the chat is answered again
    since = len(telegram.calls)
    await resident.send("/help")
    assert len(telegram.delivered_to(6102, since)) == pieces


async def test_follow_ups_still_in_line_when_the_server_stops_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stopping outbox does not send follow-ups that wait for the broadcast pace (nobody
    waits for them), but it says how many it leaves: in the log and the given-up metric."""
    from bot.channels.outbox import Outbox
    from bot.channels.telegram.outbox import telegram_verdict

    sent: list[object] = []

    async def call(client: object) -> None:
        sent.append(client)

    async def blocked(chat_id: object) -> None:
        raise AssertionError("nobody blocked the bot")

    outbox: Outbox[object] = Outbox(
        object(), blocked, classify=telegram_verdict, channel="telegram"
    )
    before = given_up_count("shutdown")
    for chat in (1, 2, 3):  # posted, and stopping before the line's starter ever ran
        outbox.follow(chat, [call, call])
    with caplog.at_level(logging.WARNING, logger="bot.channels.outbox"):
        await outbox.drain(within=1.0)
    assert sent == []
    assert given_up_count("shutdown") - before == 6
    assert "6 follow-up messages waiting for the pace not sent" in caplog.text


async def test_messages_still_queued_when_the_stopping_wait_runs_out_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A chat whose sending outlasts a stopping outbox's wait: the message being sent and
    those behind it are not sent, and said so, as the follow-ups still in line are."""
    from bot.channels.outbox import Outbox
    from bot.channels.telegram.outbox import telegram_verdict

    stuck = asyncio.Event()  # never set: Telegram never answers

    async def hangs(client: object) -> None:
        await stuck.wait()

    async def call(client: object) -> None:
        raise AssertionError("nothing after the message that hangs is sent")

    async def blocked(chat_id: object) -> None:
        raise AssertionError("nobody blocked the bot")

    outbox: Outbox[object] = Outbox(
        object(), blocked, classify=telegram_verdict, channel="telegram"
    )
    before = given_up_count("shutdown")
    answered = outbox.post(1, [hangs, call])
    outbox.follow(1, [call])
    await asyncio.sleep(0)  # the chat's worker starts sending
    with caplog.at_level(logging.WARNING, logger="bot.channels.outbox"):
        await outbox.drain(within=0.01)
    assert given_up_count("shutdown") - before == 3
    assert "3 queued messages whose wait ran out not sent" in caplog.text
    assert answered.result() is False


async def test_a_message_given_up_while_the_outbox_stops_is_counted_once() -> None:
    """Its give-up being recorded when the stopping wait runs out: counted with the messages
    not sent, not as given up as well."""
    from bot.channels.outbox import Outbox
    from bot.channels.telegram.errors import RetryAfter
    from bot.channels.telegram.outbox import telegram_verdict

    recording = asyncio.Event()

    async def limited(client: object) -> None:
        raise RetryAfter(3600)  # past any give-up time

    async def blocked(chat_id: object) -> None:
        raise AssertionError("nobody blocked the bot")

    async def records_slowly(chat_id: object, reason: str) -> None:
        recording.set()
        await asyncio.Event().wait()  # the database takes longer than the stopping wait

    outbox: Outbox[object] = Outbox(
        object(),
        blocked,
        classify=telegram_verdict,
        channel="telegram",
        on_given_up=records_slowly,
    )
    limited_before, shutdown_before = given_up_count("rate_limited"), given_up_count("shutdown")
    answered = outbox.post(1, [limited])
    await asyncio.wait_for(recording.wait(), 10)
    await outbox.drain(within=0.01)
    assert answered.result() is False
    counted = given_up_count("rate_limited") - limited_before
    assert (counted, given_up_count("shutdown") - shutdown_before) == (0, 1)


async def test_a_pacer_spaces_its_turns_however_many_ask_and_holds_after_a_429(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a clock of its own (no real waiting): five senders at once get turns one interval
    apart, in the order they asked; after hold(3) the next turn is three seconds on."""
    clock = SimpleNamespace(now=100.0)

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        await asyncio.sleep(0)

    monkeypatch.setattr(outbox, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(outbox, "asyncio", SimpleNamespace(Lock=asyncio.Lock, sleep=sleep))
    pacer = Pacer(rate=4.0)
    assert pacer.interval > 0.25  # a little over a quarter second: never 5 in some second
    starts: list[tuple[int, float]] = []

    async def send(n: int) -> None:
        await pacer.wait()
        starts.append((n, clock.now))

    await asyncio.gather(*(send(n) for n in range(5)))
    assert [n for n, _ in starts] == list(range(5))
    assert [at for _, at in starts] == pytest.approx([100.0 + n * pacer.interval for n in range(5)])
    pacer.hold(3.0)
    before = clock.now
    await pacer.wait()
    assert clock.now == pytest.approx(before + 3.0)
