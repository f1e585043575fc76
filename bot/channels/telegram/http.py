"""python-telegram-bot's Bot API requests over aiohttp instead of httpx.

PTB lets an application bring its own request class (telegram.request.BaseRequest). Profiled
under load (README, "Speed"), httpx's connection pool was the bot's largest single cost:
for every request it checks each pooled connection (a system call each) and looks for the
optional sniffio module through the import machinery, about 6 ms of CPU per answer with
forty chats at once. aiohttp, which already serves our webhooks, sends the same request for
a fraction of that. The behaviour PTB relies on is kept: status and body back, TimedOut for
timeouts, NetworkError for everything else that went wrong on the way.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

CONNECT_TIMEOUT = 5.0  # seconds, as PTB's own defaults
READ_TIMEOUT = 5.0
FORM = "application/x-www-form-urlencoded"


class AiohttpRequest(BaseRequest):
    def __init__(self, pool_size: int = 256) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return READ_TIMEOUT

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
        if request_data is not None and files:
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
