"""python-telegram-bot's Bot API requests over aiohttp instead of httpx.

PTB lets an application bring its own request class (telegram.request.BaseRequest). Profiled
under load (docs/speed.md), httpx's connection pool was the bot's largest single cost:
for every request it checks each pooled connection (a system call each) and looks for the
optional sniffio module through the import machinery, about 6 ms of CPU per answer with
forty chats at once. aiohttp, which already serves our webhooks, sends the same request for
a fraction of that. The behaviour PTB relies on is kept: status and body back, TimedOut for
timeouts, NetworkError for everything else that went wrong on the way. `telegram_bot` is the
one place a Bot is made, so that every call — the server's and the commands' — goes this
way (bot/channels/telegram/bot_api.py's calls need it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from telegram import Bot
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.channels.telegram.bot_api import JSON, JsonBody
from bot.runtime.config import Settings

CONNECT_TIMEOUT = 5.0  # seconds, as PTB's own defaults
READ_TIMEOUT = 5.0
FORM = "application/x-www-form-urlencoded"


def telegram_bot(settings: Settings) -> Bot:
    """The Bot every part of the service calls Telegram with (the server, the commands)."""
    assert settings.telegram_bot_token
    return Bot(
        settings.telegram_bot_token,
        base_url=settings.telegram_api_base_url,
        base_file_url=file_base_url(settings.telegram_api_base_url),
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(pool_size=1),
    )


def file_base_url(api_base_url: str) -> str:
    """Where the Bot API serves files: https://api.telegram.org/file/bot for the default
    .../bot, and likewise beside any other base (a local Bot API server, the tests' fake)."""
    head, _, tail = api_base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


class AiohttpRequest(BaseRequest):
    sends_json_body = True  # bot/channels/telegram/bot_api.py's calls are sent as they are

    def __init__(self, pool_size: int = 256) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return READ_TIMEOUT

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """The Bot API's answer, read by orjson (PTB's json.loads was a third of the JSON on
        the webhook path); not logged when it is not JSON, as PTB's would be (it may echo
        what a resident wrote)."""
        try:
            return orjson.loads(payload)
        except ValueError as error:
            raise TelegramError("Invalid server response") from error

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=_given(connect_timeout, CONNECT_TIMEOUT),
            sock_read=_given(read_timeout, READ_TIMEOUT),
        )
        data: aiohttp.FormData | bytes | None = None
        headers = {}
        if isinstance(request_data, JsonBody):  # encoded already (bot/channels/telegram/bot_api.py)
            data = request_data.body
            headers["Content-Type"] = JSON
        elif request_data is not None and files:
            data = _form(request_data)
        elif request_data is not None:
            # Encoded here: aiohttp would build a FormData for a dict, at twice the cost.
            data = urlencode(request_data.json_parameters).encode()
            headers["Content-Type"] = FORM
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _given(value: float | object | None, default: float) -> float | None:
    """A timeout PTB passed, or ours where it left the default."""
    if isinstance(value, int | float) or value is None:
        return value
    return default


def _form(request_data: RequestData) -> aiohttp.FormData:
    """A multipart body: the parameters as fields, the files (photos, documents) as parts."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
