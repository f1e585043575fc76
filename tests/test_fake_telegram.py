"""The fake Bot API refuses what Telegram refuses, and our splitting keeps under the limit."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden

from bot.channels.outbox import split_text
from tests.fake_telegram import TEXT_LIMIT, TOKEN, FakeTelegram


async def test_the_fake_enforces_telegram_limits(telegram: FakeTelegram) -> None:
    async with Bot(TOKEN, base_url=telegram.base_url) as bot:
        await bot.send_message(42, "а" * TEXT_LIMIT)
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(42, "а" * (TEXT_LIMIT + 1))
        with pytest.raises(BadRequest, match="empty"):
            await bot.send_message(42, "   ")
        telegram.blocked_chats.add(43)
        with pytest.raises(Forbidden):
            await bot.send_message(43, "hi")
    # Every call is recorded, the refused ones too.
    assert [len(c.params["text"]) for c in telegram.messages_to(42)] == [
        TEXT_LIMIT,
        TEXT_LIMIT + 1,
        3,
    ]


@pytest.mark.parametrize("length", [0, 1, TEXT_LIMIT, TEXT_LIMIT + 1, 3 * TEXT_LIMIT + 17])
def test_split_text_keeps_every_piece_under_the_limit(length: int) -> None:
    text = "\n".join("сап" * 40 for _ in range(length // 121 + 1))[:length]
    pieces = split_text(text)
    assert all(0 < len(piece) <= TEXT_LIMIT for piece in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


def test_split_text_prefers_line_breaks() -> None:
    text = "a" * 4000 + "\n" + "b" * 200
    assert split_text(text) == ["a" * 4000, "b" * 200]
