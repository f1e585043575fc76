"""The Telegram Bot API: every call the service makes to Telegram — the server's, its
outbox's and the commands' — goes through one `BotApi` (`telegram_bot`), on kept-alive
connections of its own (bot/channels/telegram/connections.py).

A call is one POST of a JSON body (the Bot API takes JSON as well as forms), or a multipart
form for a photo or a document (encoded by aiohttp); its answer is `{"ok": true, "result":
…}`, or an error read into bot/channels/telegram/errors.py's kinds. python-telegram-bot,
which this replaces, held 6 MB of an idle worker's memory (its 450 modules and httpx) for
the little of it the service used (docs/decisions.md, "Our own Bot API client").
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from bot.channels.telegram.connections import READ_TIMEOUT, Connections
from bot.channels.telegram.errors import NetworkError, TelegramError, TimedOut, failure
from bot.runtime.config import Settings

POOL_SIZE = 256  # connections to the Bot API at most
USER_AGENT = "civicbot"
JSON_BODY = {"Content-Type": "application/json"}

Keyboard = Sequence[Sequence[tuple[str, str]]]  # rows of (label, payload): answers.Keyboard


def telegram_bot(settings: Settings) -> BotApi:
    """The client every part of the service calls Telegram with (the server, the commands)."""
    assert settings.telegram_bot_token
    return BotApi(settings.telegram_bot_token, settings.telegram_api_base_url)


async def username_of(settings: Settings) -> str:
    """The bot's @name, asked of Telegram (getMe): for the links that open it. TelegramError
    or OSError when Telegram does not say."""
    async with telegram_bot(settings) as bot:
        return bot.username


def file_base_url(api_base_url: str) -> str:
    """Where the Bot API serves files: https://api.telegram.org/file/bot for the default
    .../bot, and likewise beside any other base (a local Bot API server, the tests' fake)."""
    head, _, tail = api_base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


class BotApi:
    """One bot's calls. Connections open as calls need them and close at `shutdown`, after
    which a call is a NetworkError (a webhook still answering while the server stops must
    not open a connection nobody closes). `initialize` asks Telegram who the bot is
    (getMe), once. `async with` does both."""

    def __init__(self, token: str, api_base_url: str, pool_size: int = POOL_SIZE) -> None:
        self._methods = urlsplit(f"{api_base_url}{token}").path  # /bot<token>
        self._files = urlsplit(f"{file_base_url(api_base_url)}{token}").path
        self._connections = Connections(api_base_url, pool_size, USER_AGENT)
        self._username: str | None = None
        self._closed = False

    @property
    def username(self) -> str:
        """The bot's @name (without the @), known once `initialize` has asked Telegram."""
        if self._username is None:
            raise RuntimeError("the bot has not asked Telegram who it is (initialize)")
        return self._username

    async def initialize(self) -> None:
        """Who the bot is (getMe); a no-op once known. TelegramError if Telegram refuses."""
        if self._username is None:
            me = await self.call("getMe")
            name = me.get("username") if isinstance(me, dict) else None
            if not isinstance(name, str):
                raise TelegramError("getMe answered without the bot's username")
            self._username = name

    async def shutdown(self) -> None:
        self._closed = True
        self._connections.close()

    async def __aenter__(self) -> BotApi:
        try:
            await self.initialize()
        except BaseException:
            await self.shutdown()  # `async with` will not: its block never began
            raise
        return self

    async def __aexit__(self, *_exception: object) -> None:
        await self.shutdown()

    async def call(self, method: str, /, **parameters: object) -> Any:
        """One Bot API method with its parameters as a JSON body (None ones left out); its
        result, or a TelegramError (RetryAfter, Forbidden, BadRequest, NetworkError, …)."""
        return await self._json_call(method, parameters)

    async def get_updates(
        self, offset: int | None, hold: int, allowed_updates: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The next updates by long polling: Telegram holds the call up to `hold` seconds."""
        parameters = {"offset": offset, "timeout": hold, "allowed_updates": list(allowed_updates)}
        updates = await self._json_call("getUpdates", parameters, READ_TIMEOUT + hold)
        if not isinstance(updates, list):
            raise TelegramError("getUpdates answered without a list of updates")
        return [update for update in updates if isinstance(update, dict)]

    async def send_photo(
        self, chat_id: int, photo: bytes, *, filename: str, caption: str | None = None
    ) -> None:
        await self._upload("sendPhoto", "photo", chat_id, photo, filename, caption)

    async def send_document(
        self, chat_id: int, document: bytes, *, filename: str, caption: str | None = None
    ) -> None:
        await self._upload("sendDocument", "document", chat_id, document, filename, caption)

    async def download(self, file_id: str) -> bytes:
        """A file a person sent (getFile, then the file itself); BadRequest "file is too big"
        over the Bot API's 20 MB. A local Bot API server started with --local gives the
        file's absolute path on the disk it shares with us instead: read from there."""
        found = await self.call("getFile", file_id=file_id)
        path = found.get("file_path") if isinstance(found, dict) else None
        if not isinstance(path, str) or not path:
            raise TelegramError("getFile answered without the file's path")
        if PurePath(path).is_absolute():
            try:
                return await asyncio.to_thread(Path(path).read_bytes)
            except OSError as error:
                raise TelegramError(f"the local Bot API server's file: {error}") from error
        status, body = await self._request("GET", f"{self._files}/{quote(path)}")
        if not 200 <= status <= 299:
            raise failure(status, _json_or_none(body))
        return body

    async def _upload(
        self,
        method: str,
        field: str,
        chat_id: int,
        data: bytes,
        filename: str,
        caption: str | None,
    ) -> None:
        form = aiohttp.FormData()
        form.add_field("chat_id", str(chat_id))
        if caption is not None:
            form.add_field("caption", caption)
        kind = mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"
        form.add_field(field, data, filename=filename, content_type=kind)
        multipart = form()  # aiohttp's encoding; the bytes go as any call's
        await self._result(method, await multipart.as_bytes(), multipart.headers)

    async def _json_call(
        self, method: str, parameters: Mapping[str, object], read_timeout: float = READ_TIMEOUT
    ) -> Any:
        given = {name: value for name, value in parameters.items() if value is not None}
        return await self._result(method, orjson.dumps(given), JSON_BODY, read_timeout)

    async def _result(
        self,
        method: str,
        body: bytes,
        headers: Mapping[str, str],
        read_timeout: float = READ_TIMEOUT,
    ) -> Any:
        status, answer = await self._request(
            "POST", f"{self._methods}/{method}", body, headers, read_timeout
        )
        read = _json_or_none(answer)
        if not 200 <= status <= 299:
            raise failure(status, read)
        if read is None or read.get("ok") is not True or "result" not in read:
            # Perhaps done: not a NetworkError, which the outbox would repeat.
            raise TelegramError("Invalid server response")
        return read["result"]

    async def _request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        read_timeout: float = READ_TIMEOUT,
    ) -> tuple[int, bytes]:
        """Status and body; TimedOut, or NetworkError for anything else on the way (as
        python-telegram-bot read any failure of its HTTP library)."""
        if self._closed:
            raise NetworkError("the Bot API client is shut down")
        try:
            return await self._connections.request(method, path, body, headers, read_timeout)
        except TimeoutError as error:
            raise TimedOut("Timed out") from error
        except OSError as error:  # refused, reset, closed, not HTTP, a TLS failure, …
            raise NetworkError(f"{type(error).__name__}: {error}") from error
        except Exception as error:  # a broken URL, …
            raise NetworkError(f"Unknown error in HTTP implementation: {error!r}") from error


def _json_or_none(body: bytes) -> dict[str, Any] | None:
    """The answer read by orjson; None if it is not a JSON object (not logged: it may echo
    what a resident wrote)."""
    try:
        read = orjson.loads(body)
    except ValueError:
        return None
    return read if isinstance(read, dict) else None


def inline_keyboard(keyboard: Keyboard) -> dict[str, object] | None:
    """Buttons under a message, as the Bot API's InlineKeyboardMarkup; None for none."""
    if not keyboard:
        return None
    rows = [[{"text": label, "callback_data": data} for label, data in row] for row in keyboard]
    return {"inline_keyboard": rows}
