"""The Bot API's own HTTP/1.1 connections (bot/channels/telegram/connections.py) against
servers scripted byte for byte on 127.0.0.1: kept alive and reused, each way an answer may
end, each way a server may fail, the limit, TLS. tests/test_bot_api.py holds the client on
top to the fake Bot API."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.channels.telegram.connections import Connections

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Server:
    """Answers each request on each connection with `answer`; counts the connections and
    keeps every request's head and body."""

    answer: Answer
    connections: int = 0
    open_at_once: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    _open: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open += 1
        self.open_at_once = max(self.open_at_once, self._open)
        try:
            while not reader.at_eof():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = next(
                    (
                        int(line[15:])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append((head, await reader.readexactly(length)))
                await self.answer(reader, writer)
                if writer.is_closing():
                    return
        except ConnectionError:
            return
        finally:
            self._open -= 1
            writer.close()


async def started(
    answer: Answer, tls: ssl.SSLContext | None = None
) -> tuple[Server, asyncio.Server]:
    server = Server(answer)
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls)
    return server, listening


@pytest.fixture
async def servers() -> AsyncIterator[Callable[..., Awaitable[tuple[Server, Connections]]]]:
    """A scripted server and connections to it, both closed after the test."""
    made: list[tuple[asyncio.Server, Connections]] = []

    async def make(answer: Answer, limit: int = 8) -> tuple[Server, Connections]:
        server, listening = await started(answer)
        port = listening.sockets[0].getsockname()[1]
        connections = Connections(f"http://127.0.0.1:{port}/bot", limit, "civicbot")
        made.append((listening, connections))
        return server, connections

    yield make
    for listening, connections in made:
        connections.close()
        listening.close()


def sends(*parts: bytes, close: bool = False, pause: float = 0.0) -> Answer:
    """An answer written in parts, `pause` seconds apart; then the connection closed, or not."""

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number, part in enumerate(parts):
            if number and pause:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        if close:
            writer.close()

    return answer


ANSWERS = {
    "with its length": (
        sends(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}'),
        200,
        b'{"ok":true}',
        1,
    ),
    "in chunks": (
        sends(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b'5\r\n{"ok"\r\n',
            b"6\r\n:true}\r\n0\r\n\r\n",
        ),
        200,
        b'{"ok":true}',
        1,
    ),
    "in parts, the head split": (
        sends(
            b"HTTP/1.1 502 Bad Gat", b"eway\r\nContent-Len", b"gth: 3\r\n\r\nba", b"d", pause=0.01
        ),
        502,
        b"bad",
        1,
    ),
    "to the end of the stream (no length, no chunks)": (
        sends(b"HTTP/1.1 200 OK\r\n\r\n", b"all of it", close=True),
        200,
        b"all of it",
        3,
    ),
    "with Connection: close": (
        sends(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", close=True),
        200,
        b"ok",
        3,
    ),
    "HTTP/1.0": (
        sends(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", close=True),
        200,
        b"ok",
        3,
    ),
    "empty (204)": (sends(b"HTTP/1.1 204 No Content\r\n\r\n"), 204, b"", 1),
    "after a 100 Continue": (sends(b"HTTP/1.1 100 Continue\r\n\r\n" + OK), 200, b"ok", 1),
    "after 103 Early Hints, apart": (
        sends(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", OK, pause=0.01),
        200,
        b"ok",
        1,
    ),
    "to the end of the stream, with Transfer-Encoding: identity": (
        sends(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", b"all", close=True),
        200,
        b"all",
        3,
    ),
    "with bytes after it (the connection not taken again)": (sends(OK + b"HTTP/"), 200, b"ok", 3),
    "with a second answer after it (the connection not taken again)": (
        sends(OK + OK),
        200,
        b"ok",
        3,
    ),
}


@pytest.mark.parametrize(
    ("answer", "status", "body", "connections"), ANSWERS.values(), ids=ANSWERS.keys()
)
async def test_each_way_an_answer_ends_is_read_and_the_connection_kept_when_it_may_be(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
    answer: Answer,
    status: int,
    body: bytes,
    connections: int,
) -> None:
    """Three requests in turn: each answer read whole; one connection for all three when
    the server keeps it, one each when it closes."""
    server, client = await servers(answer)
    for _ in range(3):
        assert await client.request("POST", "/bot1/sendMessage", b"{}") == (status, body)
        await asyncio.sleep(0.01)  # a server's close is noticed before the next request
    assert server.connections == connections


async def test_a_request_is_what_the_bot_api_reads(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    server, client = await servers(sends(OK))
    body = '{"text":"Салам"}'.encode()
    await client.request("POST", "/bot1:x/sendMessage", body, {"Content-Type": "application/json"})
    await client.request("GET", "/file/bot1:x/photos/file_1.jpg")
    (post, sent), (get, nothing) = server.requests
    request_line, host, *rest = post.split(b"\r\n")
    assert request_line == b"POST /bot1:x/sendMessage HTTP/1.1"
    assert host.startswith(b"Host: 127.0.0.1:")
    assert rest == [
        b"User-Agent: civicbot",
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
        b"",
        b"",
    ]
    assert sent == body
    assert get.startswith(b"GET /file/bot1:x/photos/file_1.jpg HTTP/1.1\r\n")
    assert b"content-length" not in get.lower() and nothing == b""


async def test_an_idle_connection_the_server_closed_is_not_taken_again(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    """A server lets idle connections go (Telegram's after a while): the next request
    opens a new one instead of failing on the one that is gone."""

    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(OK)
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.close()

    server, client = await servers(once_then_close)
    assert await client.request("POST", "/a") == (200, b"ok")
    await asyncio.sleep(0.1)
    assert await client.request("POST", "/b") == (200, b"ok")
    assert server.connections == 2


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes


FAILURES = {
    "a server that says nothing": (silent, TimeoutError, "nothing moved"),
    "a server that switches protocols (101)": (
        sends(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
        ConnectionError,
        "switched protocols",
    ),
    "a server that stops half-way through the body": (
        sends(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", close=True),
        ConnectionError,
        "closed",
    ),
    "a server that closes without a word": (sends(close=True), ConnectionError, "closed"),
    "a server that does not speak HTTP": (
        sends(b"SSH-2.0-OpenSSH_9.2\r\n"),
        ConnectionError,
        "not an HTTP answer",
    ),
    "a length that is not a number": (
        sends(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nok"),
        ConnectionError,
        "not an HTTP",
    ),
}


@pytest.mark.parametrize(("answer", "kind", "message"), FAILURES.values(), ids=FAILURES.keys())
async def test_each_way_a_server_fails_is_an_error_and_the_connection_is_not_kept(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
    answer: Answer,
    kind: type[Exception],
    message: str,
) -> None:
    server, client = await servers(answer)
    with pytest.raises(kind, match=message):
        await client.request("POST", "/bot1/sendMessage", b"{}", read_timeout=0.3)
    server.answer = sends(OK)
    assert await client.request("POST", "/bot1/sendMessage", b"{}") == (200, b"ok")
    assert server.connections == 2  # the broken connection was not taken again
    assert len(server.requests) == 2  # and nothing was sent twice


async def test_an_answer_that_keeps_coming_is_not_cut_by_the_read_timeout(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    """The read timeout is the longest silence, as aiohttp's sock_read: a large download
    that keeps arriving takes as long as it takes."""
    parts = [b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n", *(bytes([c]) for c in b"abcdefgh")]
    _, client = await servers(sends(*parts, pause=0.05))
    assert await client.request("GET", "/file", read_timeout=0.3) == (200, b"abcdefgh")


async def test_an_upload_that_keeps_going_out_is_not_cut_by_the_read_timeout() -> None:
    """A poster to a slow server: the timeout counts from the last bytes the system took."""
    got = 0

    async def slow_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal got
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while got < length:
            got += len(await reader.read(min(256 * 1024, length - got)))
            await asyncio.sleep(0.02)
        writer.write(OK)
        await writer.drain()
        await reader.read()

    listening = await asyncio.start_server(slow_reader, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    client = Connections(f"http://127.0.0.1:{port}", 4, "civicbot")
    try:
        poster = b"%" * (24 * 1024 * 1024)  # more than the system's buffers hold
        assert await client.request("POST", "/sendDocument", poster, read_timeout=0.5) == (
            200,
            b"ok",
        )
        assert got == len(poster)
    finally:
        client.close()
        listening.close()


async def test_an_idle_connection_outlives_its_last_requests_read_timeout(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    server, client = await servers(sends(OK))
    assert await client.request("POST", "/a", read_timeout=0.05) == (200, b"ok")
    await asyncio.sleep(0.15)
    assert await client.request("POST", "/b", read_timeout=0.05) == (200, b"ok")
    assert server.connections == 1


async def test_once_closed_nothing_more_is_sent_and_no_connection_opened(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    """Shutting down with requests waiting for a connection: they fail, none opens one that
    nobody would close; an answer read to the end of the stream, cut by the close, is not
    taken as whole."""
    server, client = await servers(
        sends(b"HTTP/1.1 200 OK\r\n\r\n", b"part of it", b" and the rest", close=True, pause=0.1),
        limit=1,
    )
    asked = [asyncio.create_task(client.request("POST", f"/{n}")) for n in range(3)]
    await asyncio.sleep(0.15)
    client.close()
    outcomes = await asyncio.gather(*asked, return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes), outcomes
    assert server.connections == 1 and len(server.requests) == 1


async def test_a_connection_that_opens_after_the_close_is_not_used(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    server, client = await servers(sends(OK))
    asking = asyncio.create_task(client.request("POST", "/late"))
    await asyncio.sleep(0)  # the request is opening its connection
    client.close()
    with pytest.raises(ConnectionError, match="closed"):
        await asking
    await asyncio.sleep(0.05)
    assert server.requests == []


async def test_a_closed_port_is_refused() -> None:
    listening = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    client = Connections(f"http://127.0.0.1:{port}", 4, "civicbot")
    with pytest.raises(ConnectionRefusedError):
        await client.request("POST", "/x")


async def test_no_more_connections_than_the_limit_and_every_request_answered(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    server, client = await servers(
        sends(b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n\r\nok", pause=0.01), limit=3
    )
    answers = await asyncio.gather(*(client.request("POST", f"/{n}") for n in range(12)))
    assert answers == [(200, b"ok")] * 12
    assert server.open_at_once == 3 and server.connections == 3


async def test_a_cancelled_request_closes_its_connection(
    servers: Callable[..., Awaitable[tuple[Server, Connections]]],
) -> None:
    """Its answer may still come: on a connection taken again it would be read as the next
    request's. So the connection is closed at once, not left to the server."""
    closed = asyncio.Event()

    async def hears_the_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await reader.read() == b"":
            closed.set()

    server, client = await servers(hears_the_close)
    asking = asyncio.create_task(client.request("POST", "/slow"))
    await asyncio.sleep(0.05)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    await asyncio.wait_for(closed.wait(), 1)
    server.answer = sends(OK)
    assert await client.request("POST", "/next") == (200, b"ok")
    assert server.connections == 2


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    made = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert, secret = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    secret.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, secret


async def test_https_is_verified_against_the_trusted_certificates(tmp_path: Path) -> None:
    """https://… goes over TLS, its certificate checked: one the machine does not trust is
    refused (an OSError: a NetworkError to the Bot API's client); trusted, it answers."""
    cert, key = certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server, listening = await started(sends(OK), tls)
    port = listening.sockets[0].getsockname()[1]
    try:
        client = Connections(f"https://127.0.0.1:{port}/bot", 4, "civicbot")
        with pytest.raises(ssl.SSLCertVerificationError):
            await client.request("POST", "/bot1/getMe")
        assert client.tls is not None
        client.tls.load_verify_locations(cert)  # as if the machine trusted it
        assert await client.request("POST", "/bot1/getMe") == (200, b"ok")
        client.close()
    finally:
        listening.close()
    assert len(server.requests) == 1


def test_only_an_http_address_is_taken() -> None:
    for address in ("ftp://api.telegram.org/bot", "api.telegram.org/bot", "https:///bot"):
        with pytest.raises(ValueError, match="not an http"):
            Connections(address, 4, "civicbot")
