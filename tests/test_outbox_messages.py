"""A text message with buttons kept as plain data until it goes (bot/channels/telegram/outbox.py
`message`): its buttons' payloads split into the prefix one person's share and a layout
shared by everyone given the same buttons, so that 20,000 closing questions waiting for the
pace keep one layout between them. Sent through the real client to the fake Bot API: each person
gets exactly their own payloads, however the payloads are made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.outbox import Outbox
from bot.channels.telegram.bot_api import BotApi, telegram_bot
from bot.channels.telegram.outbox import Message, message, telegram_verdict
from bot.runtime.config import Settings
from tests.conftest import SECRET_KEY
from tests.fake_telegram import TOKEN, FakeTelegram

AGES = (("Under 18", "1"), ("18-29", "2"), ("30-44", "3")), (("Skip", "0"),)


def buttons(nonce: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The age question's buttons as a conversation with `nonce` makes them."""
    return tuple(tuple((label, f"{nonce}:{value}") for label, value in row) for row in AGES)


def markup(keyboard: Any) -> dict[str, Any]:
    rows = [[{"text": label, "callback_data": data} for label, data in row] for row in keyboard]
    return {"inline_keyboard": rows}


@pytest.fixture
async def outbox(telegram: FakeTelegram) -> AsyncIterator[Outbox[BotApi]]:
    """An outbox with the real client, on the fake Bot API."""
    settings = Settings(
        telegram_bot_token=TOKEN, telegram_api_base_url=telegram.base_url, secret_key=SECRET_KEY
    )
    bot = telegram_bot(settings)
    await bot.initialize()

    async def blocked(chat_id: object) -> None:
        raise AssertionError("nobody blocked the bot")

    yield Outbox(bot, blocked, classify=telegram_verdict, channel="telegram")
    await bot.shutdown()


async def sent(
    telegram: FakeTelegram, outbox: Outbox[BotApi], calls: list[tuple[int, Any]]
) -> list[dict[str, Any]]:
    """What the fake took for each (chat, call), sent one after another as follow-ups."""
    since, wanted = len(telegram.called("sendMessage")), len(calls)
    for chat_id, call in calls:
        outbox.follow(chat_id, [call])
    await telegram.wait_for_sends(lambda: len(telegram.called("sendMessage")) >= since + wanted)
    return [c.params for c in telegram.called("sendMessage")[since:]]


async def test_people_given_the_same_buttons_share_a_layout_and_get_their_own_payloads(
    telegram: FakeTelegram, outbox: Outbox[BotApi]
) -> None:
    first, second = (
        message(71, "How old?", buttons("aB3x_Q")),
        message(72, "How old?", buttons("Zz9-k1")),
    )
    assert isinstance(first, Message) and isinstance(second, Message)
    assert first.layout is second.layout  # one between them, however many wait

    taken = await sent(telegram, outbox, [(71, first), (72, second)])
    assert [(p["chat_id"], p["text"], p["reply_markup"]) for p in taken] == [
        (71, "How old?", markup(buttons("aB3x_Q"))),
        (72, "How old?", markup(buttons("Zz9-k1"))),
    ]


async def test_payloads_without_a_shared_prefix_are_sent_as_they_are(
    telegram: FakeTelegram, outbox: Outbox[BotApi]
) -> None:
    mixed = (("A", "poll:K7:1"), ("B", "poll:K7:2")), (("C", "lang"), ("D", "lang:en:x"))
    single = ((("Open", "poll:K7:1"),),)
    taken = await sent(
        telegram, outbox, [(73, message(73, "Mixed", mixed)), (74, message(74, "One", single))]
    )
    assert [p["reply_markup"] for p in taken] == [markup(mixed), markup(single)]
    plain = await sent(telegram, outbox, [(75, message(75, "No buttons"))])
    assert "reply_markup" not in plain[-1]


async def test_a_chat_keeps_no_finished_worker_once_its_queue_is_sent(
    telegram: FakeTelegram, outbox: Outbox[BotApi]
) -> None:
    """A chat's pace is remembered until it is idle, but not the task that sent its queue
    (some 700 bytes for each chat a wave of 20,000 answers leaves behind)."""
    await outbox.post(76, [message(76, "An answer")])
    await sent(telegram, outbox, [(76, message(76, "A follow-up"))])
    chat = outbox._chats[76]
    if chat.worker is not None:  # still reading the fake's answer to its last send
        await chat.worker
    assert chat.worker is None
