"""HTTP/1.1 to one server (the Bot API) on the event loop: kept-alive connections, each a
small asyncio protocol, the answers read by httptools (llhttp, Node.js's parser).

Why not aiohttp's client, which does the same: it cost the event loop about 50 µs a request
against 11 for a protocol like this one, and an update makes 1.4 requests (docs/decisions.md,
"The Bot API over connections of our own"). What aiohttp's client does and this does not,
the Bot API does not need: redirects, cookies, proxies, compressed answers (none is asked
for), other hosts.

A request is sent once: a connection that breaks under it is a ConnectionError, never sent
again (a POST may have been done). The connection last given back is the next one taken, so
those idle longest stay idle until the server lets them go; one it has let go is dropped.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

CONNECT_TIMEOUT = 5.0  # seconds, as python-telegram-bot's defaults were


class Connections:
    """Up to `limit` connections at once to the server `url` names (http or https; its path
    is not used: each request names its own)."""

    def __init__(self, url: str, limit: int, user_agent: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) address: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._head = f"Host: {parts.netloc}\r\nUser-Agent: {user_agent}\r\n".encode()
        self._free = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        read_timeout: float = 5.0,
    ) -> tuple[int, bytes]:
        """One request, its answer's status and body. TimeoutError if the server is silent
        for `read_timeout` seconds while it answers; ConnectionError (an OSError) if the
        connection would not open or broke, or the answer is not HTTP."""
        request = self._head_of(method, path, len(body), headers) + body
        async with self._free:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                status, answer, kept = await connection.exchange(request, read_timeout)
            except BaseException:  # cancelled too: its answer may still come
                connection.close()
                raise
            if kept:
                self._idle.append(connection)
            else:
                connection.close()
            return status, answer

    def close(self) -> None:
        for connection in list(self._open):
            connection.close()

    def _head_of(
        self, method: str, path: str, length: int, headers: Mapping[str, str] | None
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\n".encode(), self._head]
        lines.extend(f"{name}: {value}\r\n".encode() for name, value in (headers or {}).items())
        if length or method not in ("GET", "HEAD"):
            lines.append(b"Content-Length: %d\r\n" % length)
        lines.append(b"\r\n")
        return b"".join(lines)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        opening = loop.create_connection(
            lambda: _Connection(self._gone),
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname=self.host if self.tls else None,
        )
        try:
            _, connection = await asyncio.wait_for(opening, CONNECT_TIMEOUT)
        except TimeoutError as error:
            raise ConnectionError(f"no connection to {self.host} in {CONNECT_TIMEOUT} s") from error
        self._open.add(connection)
        return connection

    def _gone(self, connection: _Connection) -> None:
        """A connection closed, by either side: never taken again."""
        self._open.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)


class _Connection(asyncio.Protocol):
    """One connection: one request at a time, its answer read as it arrives."""

    def __init__(self, gone: Callable[[_Connection], None]) -> None:
        self._gone = gone
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._body: list[bytes] = []
        self._framed = False  # the answer says its length, or comes in chunks
        self._until_closed = False  # an answer that does neither ends when the server closes
        self._heard = 0.0  # when the server last sent something (the loop's clock)
        self._timer: asyncio.TimerHandle | None = None

    async def exchange(self, request: bytes, read_timeout: float) -> tuple[int, bytes, bool]:
        """Send the request; its answer's status and body, and whether the connection stays
        open for another."""
        assert self._transport is not None and self._answer is None
        loop = asyncio.get_running_loop()
        self._answer = answer = loop.create_future()
        self._body.clear()
        self._heard = loop.time()
        self._transport.write(request)
        self._timer = loop.call_later(read_timeout, self._silent, read_timeout)
        try:
            return await answer
        finally:
            self._timer.cancel()
            self._answer = None

    def _silent(self, read_timeout: float) -> None:
        """The read timeout counts from the last bytes heard, as aiohttp's sock_read did: a
        long download that keeps coming is not cut."""
        loop = asyncio.get_running_loop()
        left = self._heard + read_timeout - loop.time()
        if left > 0:
            self._timer = loop.call_later(left, self._silent, read_timeout)
        else:
            self._fail(TimeoutError(f"the server was silent for {read_timeout} s"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()  # connection_lost follows

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # nothing was asked: a server talking out of turn
            self.close()
            return
        self._heard = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"not an HTTP answer: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone(self)
        if self._until_closed:
            self._finish(kept=False)
        else:
            self._fail(ConnectionError(f"the connection closed: {exc or 'by the server'}"))

    # httptools' callbacks

    def on_message_begin(self) -> None:
        self._framed = False

    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        # httptools cannot be told of the end of the stream that ends an unframed body;
        # connection_lost is, and finishes the answer.
        self._until_closed = not self._framed

    def on_body(self, chunk: bytes) -> None:
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        self._until_closed = False
        self._finish(kept=self._parser.should_keep_alive())

    def _finish(self, kept: bool) -> None:
        if self._answer is not None and not self._answer.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._answer.set_result((self._parser.get_status_code(), body, kept))

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()
