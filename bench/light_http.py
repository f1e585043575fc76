"""Just enough HTTP/1.1 for the bench's own side of the wire — the fake Bot API, the load
generator, the echo target — so that the harness costs far less than what it measures.

asyncio Protocols, no framework: keep-alive connections, one request at a time on each
(nobody here pipelines), bodies with Content-Length only. A chunked body is refused (400,
connection closed) rather than misread: the bench would rather fail loudly than measure
something else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"
REASONS = {
    200: b"OK",
    201: b"Created",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
}
JSON = b"application/json"


@dataclass(slots=True)
class Request:
    method: bytes
    target: bytes
    headers: dict[bytes, bytes]  # names in lower case
    body: bytes


Reply = tuple[int, bytes]  # status, JSON body
Handler = Callable[[Request], "Reply | Awaitable[Reply]"]


def parse_head(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """The first line, and the headers by lower-case name."""
    first, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return first, headers


def encode_reply(status: int, body: bytes) -> bytes:
    reason = REASONS.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
    return head % (status, reason, JSON, len(body)) + body


class ServerProtocol(asyncio.Protocol):
    """One connection to a server: requests handed to `handler` in order, each answered
    before the next is read. A handler may answer at once (a tuple) or later (awaitable)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._serve()

    def _serve(self) -> None:
        while not self.closing:
            request = self._take()
            if request is None:
                return
            answer = self.handler(request)
            if isinstance(answer, tuple):
                self._reply(request, answer)
                continue
            self.busy = True
            task = asyncio.ensure_future(answer)
            task.add_done_callback(functools.partial(self._answered, request))
            return

    def _answered(self, request: Request, task: asyncio.Future[Reply]) -> None:
        self.busy = False
        try:
            answer = task.result()
        except Exception as error:  # the bench's own bug: say so on the wire, keep serving
            answer = (500, b'{"ok":false,"description":"%s"}' % type(error).__name__.encode())
        self._reply(request, answer)
        self._serve()

    def _take(self) -> Request | None:
        """The next whole request in the buffer, or None until it has all arrived."""
        end = self.buffer.find(HEAD_END)
        if end < 0:
            return None
        first, headers = parse_head(bytes(self.buffer[:end]))
        if b"transfer-encoding" in headers:
            self._refuse(b"only Content-Length bodies")
            return None
        length = int(headers.get(b"content-length", b"0"))
        start = end + len(HEAD_END)
        if len(self.buffer) < start + length:
            return None
        body = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        method, target, _version = first.split(b" ", 2)
        return Request(method, target, headers, body)

    def _reply(self, request: Request, answer: Reply) -> None:
        if self.transport is None or self.closing:
            return
        self.transport.write(encode_reply(*answer))
        if request.headers.get(b"connection", b"").lower() == b"close":
            self.closing = True
            self.transport.close()

    def _refuse(self, why: bytes) -> None:
        assert self.transport is not None
        self.transport.write(encode_reply(400, b'{"ok":false,"description":"%s"}' % why))
        self.closing = True
        self.transport.close()


async def serve(handler: Handler, port: int = 0) -> asyncio.Server:
    """A server on 127.0.0.1 (`port` 0: any free one)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: ServerProtocol(handler), "127.0.0.1", port)


class LightServer(ABC):
    """A fake service on 127.0.0.1 answered by `_handle` (the fake Bot API, the fake Twilio)."""

    port = 0
    _server: asyncio.Server | None = None

    @abstractmethod
    def _handle(self, request: Request) -> Reply | Awaitable[Reply]:
        """The service's answer to one request: each fake has its own."""

    async def start(self) -> None:
        self._server = await serve(self._handle)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class ClientConnection(asyncio.Protocol):
    """One keep-alive connection to a server: a request, then its response, in turn."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting: asyncio.Future[Reply] | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(exc or ConnectionResetError("closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiting is None:
            return
        end = self.buffer.find(HEAD_END)
        if end < 0:
            return
        first, headers = parse_head(bytes(self.buffer[:end]))
        if b"transfer-encoding" in headers:
            self._fail(ValueError("a chunked response: the bench reads Content-Length only"))
            return
        length = int(headers.get(b"content-length", b"0"))
        start = end + len(HEAD_END)
        if len(self.buffer) < start + length:
            return
        body = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        waiting, self.waiting = self.waiting, None
        if not waiting.done():
            waiting.set_result((int(first.split(b" ", 2)[1]), body))

    def _fail(self, error: Exception) -> None:
        waiting, self.waiting = self.waiting, None
        if waiting is not None and not waiting.done():
            waiting.set_exception(error)
        self.close()

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes) -> Reply:
        """Send a whole request (head and body); its status and body."""
        assert self.transport is not None and self.waiting is None
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiting


def request_head(method: str, path: str, port: int, headers: dict[str, str]) -> bytes:
    """A request's head up to (not including) its Content-Length line."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n").encode()


class Pool:
    """Keep-alive connections to one server or several alike (ports taken in turn): a
    request takes an idle one, or opens one while fewer than `limit` are in use."""

    def __init__(self, ports: list[int], limit: int) -> None:
        self.ports = ports
        self._turn = 0
        self._idle: list[ClientConnection] = []
        self._slots = asyncio.Semaphore(limit)

    async def _connect(self) -> ClientConnection:
        port = self.ports[self._turn % len(self.ports)]
        self._turn += 1
        loop = asyncio.get_running_loop()
        _transport, connection = await loop.create_connection(ClientConnection, "127.0.0.1", port)
        return connection

    async def exchange(self, head: bytes, body: bytes) -> Reply:
        """`head` from request_head (its Host names the first port: every port here is one
        server's, and none of them routes by Host)."""
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                reply = await connection.exchange(request)
            except BaseException:
                connection.close()
                raise
            if connection.open:
                self._idle.append(connection)
            return reply

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


async def get(port: int, path: str) -> int:
    """One GET on a connection of its own; the status (readiness checks)."""
    loop = asyncio.get_running_loop()
    _transport, connection = await loop.create_connection(ClientConnection, "127.0.0.1", port)
    try:
        head = request_head("GET", path, port, {"Connection": "close"})
        status, _body = await connection.exchange(head + b"\r\n")
        return status
    finally:
        with contextlib.suppress(Exception):
            connection.close()
