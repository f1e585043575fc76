"""HTTP/1.1 to one server (the Bot API) on the event loop: kept-alive connections, each a
small asyncio protocol, the answers read by httptools (llhttp, Node.js's parser).

Why not aiohttp's client, which does the same: it cost the event loop about 50 µs a request
against 11 for a protocol like this one, and an update makes 1.4 requests (docs/decisions.md,
"The Bot API over connections of our own"). What aiohttp's client does and this does not,
the Bot API does not need: redirects, cookies, proxies, compressed answers (none is asked
for), other hosts. What it did for us, this does too: TLS checked against the system's
certificates, Happy Eyeballs between IPv6 and IPv4 (aiohappyeyeballs, aiohttp's own), a
read timeout counted from the last bytes moved either way.

A request is sent once: a connection that breaks under it is a ConnectionError, never sent
again (a POST may have been done). A connection is taken again only when its last answer
ended cleanly and nothing came after it. The one last given back is the next one taken, so
those idle longest stay idle until the server lets them go; one it has let go is dropped.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import cast
from urllib.parse import urlsplit

import aiohappyeyeballs
import httptools

CONNECT_TIMEOUT = 5.0  # seconds, as python-telegram-bot's defaults were
READ_TIMEOUT = 5.0  # seconds without a byte moving, likewise
HAPPY_EYEBALLS_DELAY = 0.25  # seconds before the next address is tried too, as aiohttp's
SMALL_BODY = 65_536  # bytes: a body up to this is sent with its head in one piece


class Connections:
    """Up to `limit` connections at once to the server `url` names (http or https; its path
    is not used: each request names its own). After `close`, a request is a ConnectionError."""

    def __init__(self, url: str, limit: int, user_agent: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) address: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        authority = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        if parts.port is not None:
            authority += f":{parts.port}"
        self._head = f"Host: {authority}\r\nUser-Agent: {user_agent}\r\n".encode()
        self._free = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        read_timeout: float = READ_TIMEOUT,
    ) -> tuple[int, bytes]:
        """One request, its answer's status and body. TimeoutError if nothing moves either
        way for `read_timeout` seconds while it is sent and answered; ConnectionError (an
        OSError) if the connection would not open or broke, or the answer is not HTTP."""
        head = self._head_of(method, path, len(body), headers)
        async with self._free:
            connection = self._taken() or await self._connect()
            try:
                status, answer = await connection.exchange(head, body, read_timeout)
            except BaseException:  # cancelled too: its answer may still come
                connection.close()
                raise
            if connection.reusable and not self._closed:
                self._idle.append(connection)
            else:
                connection.close()
            return status, answer

    def _taken(self) -> _Connection | None:
        """The idle connection given back last, if one is still open."""
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
            connection.close()
        return None

    def close(self) -> None:
        """Every connection closed, and no other opened."""
        self._closed = True
        for connection in list(self._open):
            connection.close()

    def _head_of(
        self, method: str, path: str, length: int, headers: Mapping[str, str] | None
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\n".encode(), self._head]
        lines.extend(f"{name}: {value}\r\n".encode() for name, value in (headers or {}).items())
        if length or method != "GET":
            lines.append(b"Content-Length: %d\r\n" % length)
        lines.append(b"\r\n")
        return b"".join(lines)

    async def _connect(self) -> _Connection:
        if self._closed:
            raise ConnectionError("the connections are closed")
        try:
            connection = await asyncio.wait_for(self._opened(), CONNECT_TIMEOUT)
        except TimeoutError as error:
            raise ConnectionError(f"no connection to {self.host} in {CONNECT_TIMEOUT} s") from error
        self._open.add(connection)
        if self._closed:  # closed while this one opened
            connection.close()
            raise ConnectionError("the connections are closed")
        return connection

    async def _opened(self) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        sock = await aiohappyeyeballs.start_connection(
            addresses, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY
        )
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self._gone),
                sock=sock,
                ssl=self.tls,
                server_hostname=self.host if self.tls else None,
            )
        except BaseException:
            sock.close()
            raise
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
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self._framed = False  # the answer says its length, or comes in chunks
        self._until_closed = False  # an answer that does neither ends when the server closes
        self._kept_alive = False  # the last answer ended, and the server keeps the connection
        self._spoiled = False  # something came that was not an answer to a request
        self._closing = False  # we closed it: an answer cut by that is not whole
        self._heard = 0.0  # when bytes last moved either way (the loop's clock)
        self._unsent = 0  # bytes of the request not yet taken by the system when last looked
        self._timer: asyncio.TimerHandle | None = None

    @property
    def reusable(self) -> bool:
        return self._kept_alive and not self._spoiled and not self._is_closing()

    async def exchange(self, head: bytes, body: bytes, read_timeout: float) -> tuple[int, bytes]:
        """Send the request; its answer's status and body."""
        assert self._transport is not None and self._answer is None
        loop = asyncio.get_running_loop()
        if self._is_closing():  # the server closed a new connection before its first request
            raise ConnectionError("the connection closed: by the server")
        self._answer = answer = loop.create_future()
        self._body.clear()
        self._kept_alive = False
        if len(body) <= SMALL_BODY:  # one write, one system call
            self._transport.write(head + body)
        else:  # not copied
            self._transport.write(head)
            self._transport.write(body)
        self._heard = loop.time()
        self._unsent = self._transport.get_write_buffer_size()
        self._timer = loop.call_later(read_timeout, self._silent, read_timeout)
        try:
            return await answer
        finally:
            self._timer.cancel()
            self._answer = None

    def _silent(self, read_timeout: float) -> None:
        """The read timeout counts from the last bytes that moved: a large upload still
        going out, or a long answer still coming in, is not cut (aiohttp's sock_read began
        once the request was written)."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        unsent = self._transport.get_write_buffer_size()
        if unsent != self._unsent:  # the system took some of the request since
            self._unsent = unsent
            self._heard = loop.time()
        left = self._heard + read_timeout - loop.time()
        if left > 0:
            self._timer = loop.call_later(left, self._silent, read_timeout)
        else:
            self._fail(TimeoutError(f"nothing moved for {read_timeout} s"))

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()  # connection_lost follows

    def _is_closing(self) -> bool:
        return self._closing or self._transport is None or self._transport.is_closing()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():  # nothing asked: out of turn
            self._spoiled = True
            self.close()
            return
        self._heard = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # a 101: not a protocol the Bot API speaks
            self._fail(ConnectionError("the server switched protocols"))
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"not an HTTP answer: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone(self)
        if self._until_closed and exc is None and not self._closing:
            self._finish()
        else:
            self._fail(ConnectionError(f"the connection closed: {exc or 'by the server'}"))

    # httptools' callbacks

    def on_message_begin(self) -> None:
        if self._answer is None or self._answer.done():  # a second answer to one request
            self._spoiled = True
        self._framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or (
            name == b"transfer-encoding" and value.lower().rstrip().endswith(b"chunked")
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        # httptools cannot be told of the end of the stream that ends an unframed body;
        # connection_lost is, and finishes the answer.
        self._until_closed = not self._framed

    def on_body(self, chunk: bytes) -> None:
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        self._until_closed = False
        if 100 <= self._parser.get_status_code() < 200:  # 100 Continue, 103 Early Hints, …
            self._body.clear()  # an interim answer: the final one follows
            return
        self._kept_alive = self._parser.should_keep_alive()
        self._finish()

    def _finish(self) -> None:
        if self._answer is not None and not self._answer.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._answer.set_result((self._parser.get_status_code(), body))

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()
