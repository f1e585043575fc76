"""Our Bot API client (bot/channels/telegram/bot_api.py) on the wire, against the fake Bot API
over HTTP: what it sends and how it reads Telegram's refusals — the kinds the outbox's
verdicts act on, read as python-telegram-bot reads them (tests/test_fake_telegram.py holds
PTB to the same fake)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.channels.outbox import Blocked, Hold, Refused, Transient
from bot.channels.telegram import errors
from bot.channels.telegram.bot_api import BotApi
from bot.channels.telegram.connections import Connections
from bot.channels.telegram.outbox import telegram_verdict
from tests.fake_telegram import FILE_LIMIT, TEXT_LIMIT, TOKEN, FakeTelegram


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[BotApi]:
    async with BotApi(TOKEN, telegram.base_url) as client:
        yield client


async def test_a_message_goes_as_json_and_its_message_comes_back(
    bot: BotApi, telegram: FakeTelegram
) -> None:
    keyboard = {"inline_keyboard": [[{"text": "Ооба", "callback_data": "n1:yes"}]]}
    sent = await bot.call("sendMessage", chat_id=42, text="Салам", reply_markup=keyboard)
    assert sent["chat"]["id"] == 42 and sent["text"] == "Салам"
    [call] = telegram.called("sendMessage")
    assert call.params == {"chat_id": 42, "text": "Салам", "reply_markup": keyboard}
    await bot.call("editMessageReplyMarkup", chat_id=42, message_id=7, reply_markup=None)
    assert telegram.called("editMessageReplyMarkup")[0].params == {"chat_id": 42, "message_id": 7}
    assert bot.username == "civic_test_bot"  # asked once, by `async with` (getMe)
    assert len(telegram.called("getMe")) == 1


def too_long(bot: BotApi, telegram: FakeTelegram) -> Awaitable[Any]:
    return bot.call("sendMessage", chat_id=42, text="а" * (TEXT_LIMIT + 1))


def to_a_blocker(bot: BotApi, telegram: FakeTelegram) -> Awaitable[Any]:
    telegram.blocked_chats.add(43)
    return bot.call("sendMessage", chat_id=43, text="Салам")


def to_a_throttled_chat(bot: BotApi, telegram: FakeTelegram) -> Awaitable[Any]:
    telegram.throttle(44, retry_after=7, seconds=60)
    return bot.call("sendMessage", chat_id=44, text="Салам")


def when_telegram_fails(bot: BotApi, telegram: FakeTelegram) -> Awaitable[Any]:
    telegram.failures["sendMessage"] = 1  # a 502
    return bot.call("sendMessage", chat_id=45, text="Салам")


async def started(client: BotApi) -> None:
    """`async with` a client that cannot start: it is shut down all the same (no session
    left open), and says so to a later call."""
    with pytest.raises(errors.TelegramError) as raised:
        async with client:
            raise AssertionError("started")
    with pytest.raises(errors.NetworkError, match="shut down"):
        await client.call("getMe")
    raise raised.value


def with_a_wrong_token(bot: BotApi, telegram: FakeTelegram) -> Awaitable[Any]:
    return started(BotApi("1:wrong", telegram.base_url))


def a_file_too_big(bot: BotApi, telegram: FakeTelegram) -> Awaitable[Any]:
    return bot.download(telegram.add_file(b"x" * (FILE_LIMIT + 1)))


def to_a_closed_port(bot: BotApi, telegram: FakeTelegram) -> Awaitable[Any]:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return started(BotApi(TOKEN, f"http://127.0.0.1:{port}/bot"))


Refusal = Callable[[BotApi, FakeTelegram], Awaitable[Any]]


@pytest.mark.parametrize(
    ("make", "kind", "message", "verdict"),
    [
        (too_long, errors.BadRequest, "Message is too long", Refused("Message is too long")),
        (to_a_blocker, errors.Forbidden, "Forbidden: bot was blocked by the user", Blocked()),
        (to_a_throttled_chat, errors.RetryAfter, "Flood control exceeded", Hold(7.0)),
        (when_telegram_fails, errors.NetworkError, "Bad Gateway", Transient()),
        (with_a_wrong_token, errors.InvalidToken, "Unauthorized", None),
        (a_file_too_big, errors.BadRequest, "File is too big", Refused("File is too big")),
        (to_a_closed_port, errors.NetworkError, "ConnectionRefusedError", Transient()),
    ],
)
async def test_each_refusal_is_read_as_its_kind(
    bot: BotApi,
    telegram: FakeTelegram,
    make: Refusal,
    kind: type[errors.TelegramError],
    message: str,
    verdict: object,
) -> None:
    with pytest.raises(kind) as raised:
        await make(bot, telegram)
    assert type(raised.value) is kind
    assert raised.value.message.startswith(message)
    assert telegram_verdict(raised.value) == verdict


async def test_a_photo_and_a_document_go_as_multipart(bot: BotApi, telegram: FakeTelegram) -> None:
    await bot.send_photo(46, b"\x89PNG-chart", filename="chart.png", caption="Жыйынтык")
    await bot.send_document(46, b"%PDF-poster", filename="poster.pdf")
    photo, document = telegram.called("sendPhoto")[0], telegram.called("sendDocument")[0]
    assert photo.params["chat_id"] == 46 and photo.params["caption"] == "Жыйынтык"
    assert photo.params["photo"] == {"filename": "chart.png", "content": b"\x89PNG-chart"}
    assert "caption" not in document.params
    assert document.params["document"] == {"filename": "poster.pdf", "content": b"%PDF-poster"}


async def test_a_file_a_resident_sent_is_downloaded(bot: BotApi, telegram: FakeTelegram) -> None:
    content = b"\xff\xd8\xff a photo"
    assert await bot.download(telegram.add_file(content)) == content
    assert telegram.downloads == 1


async def test_long_polling_hands_back_the_updates_as_sent(
    bot: BotApi, telegram: FakeTelegram
) -> None:
    update = {"update_id": 900, "message": {"message_id": 1, "chat": {"id": 47}, "text": "/start"}}
    await telegram.push(update)
    got = await bot.get_updates(None, 0, ["message", "callback_query"])
    assert [each["update_id"] for each in got] == [900]
    assert telegram.called("getUpdates")[-1].params["allowed_updates"] == [
        "message",
        "callback_query",
    ]


@pytest.mark.parametrize(
    ("status", "answer", "kind", "message"),
    [
        (400, {"description": "Bad Request: chat not found"}, errors.BadRequest, "Chat not found"),
        (403, {"description": "Forbidden: bot was kicked"}, errors.Forbidden, "Forbidden: bot"),
        (404, {"description": "Not Found"}, errors.InvalidToken, "Not Found"),
        (409, {"description": "Conflict: terminated by other getUpdates"}, errors.Conflict, "Con"),
        (429, {"parameters": {"retry_after": 3}}, errors.RetryAfter, "Flood control"),
        (400, {"parameters": {"migrate_to_chat_id": -100}}, errors.ChatMigrated, "Group migr"),
        (502, None, errors.NetworkError, "Bad Gateway (502). The server's response could not"),
        (418, {}, errors.NetworkError, "I'm a Teapot (418)"),
        (599, {}, errors.NetworkError, "Unknown HTTPError (599)"),
    ],
)
def test_an_answer_that_is_not_ok_is_read_as_ptb_reads_it(
    status: int, answer: dict[str, Any] | None, kind: type[errors.TelegramError], message: str
) -> None:
    error = errors.failure(status, answer)
    assert type(error) is kind and error.message.startswith(message)
    assert str(error) == error.message


def answered(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


@pytest.mark.parametrize(
    ("method", "answer", "make"),
    [
        ("sendMessage", web.Response(text="<html>proxy</html>"), "send"),
        ("sendMessage", web.json_response({"ok": True}), "send"),
        ("getMe", answered({"id": 1}), "initialize"),
        ("getUpdates", answered({"update_id": 1}), "poll"),
        ("getFile", answered({"file_id": "f1"}), "download"),
    ],
)
async def test_a_success_that_cannot_be_read_is_a_telegram_error_not_sent_again(
    telegram: FakeTelegram, method: str, answer: web.Response, make: str
) -> None:
    """A 200 that is not the answer asked for: the call may have worked, so it is not a
    NetworkError, which the outbox would send again (no verdict: its caller decides), and
    never a KeyError or TypeError out of the client, which the polling loop would not catch."""
    telegram.odd_answers[method] = answer
    client = BotApi(TOKEN, telegram.base_url)
    calls = {
        "send": lambda: client.call("sendMessage", chat_id=42, text="Салам"),
        "initialize": client.initialize,
        "poll": lambda: client.get_updates(None, 0, ["message"]),
        "download": lambda: client.download("f1"),
    }
    try:
        with pytest.raises(errors.TelegramError) as raised:
            await calls[make]()
    finally:
        await client.shutdown()
    assert type(raised.value) is errors.TelegramError
    assert telegram_verdict(raised.value) is None


async def test_a_local_bot_api_servers_file_is_read_from_its_path(
    bot: BotApi, telegram: FakeTelegram, tmp_path: Path
) -> None:
    """A Bot API server of one's own started with --local answers getFile with the file's
    absolute path on the disk it shares with the bot."""
    photo = tmp_path / "photos" / "file_7.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"\xff\xd8\xff a photo")
    telegram.odd_answers["getFile"] = answered({"file_id": "f7", "file_path": str(photo)})
    assert await bot.download("f7") == b"\xff\xd8\xff a photo"
    gone = {"file_id": "f8", "file_path": str(tmp_path / "gone.jpg")}
    telegram.odd_answers["getFile"] = answered(gone)
    with pytest.raises(errors.TelegramError):
        await bot.download("f8")


async def test_any_other_failure_on_the_way_is_a_network_error(
    bot: BotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As python-telegram-bot read whatever its HTTP library raised: worth trying again."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the connector is closed")

    monkeypatch.setattr(Connections, "request", broken)
    with pytest.raises(errors.NetworkError, match="Unknown error in HTTP implementation"):
        await bot.call("sendMessage", chat_id=42, text="Салам")
