"""Hostile requests from outside against the started server, table by table: every public
route with NUL, invalid UTF-8, control characters, overlong values, huge numbers and dates
at the ends of the calendar; every webhook and form with bodies that are not what they
claim, unsigned or signed, cut short. Each answered 4xx (never 5xx), the Open311 routes with
their error list, and no trace in the log — on SQLite and PostgreSQL (issue 25, 4 and 5)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

import aiohttp
import pytest
from yarl import URL

from tests.android_gateway import FakeGateway, android_settings, event_body, received, signed
from tests.conftest import PUBLIC_BASE_URL, StartBot
from tests.test_sms_outbound import resident
from tests.twilio import FakeTwilio, signature, twilio_settings

KEY = "a" * 64 + ".jpg"  # a well-formed photo key no one has
# Values no parameter may take: not text once percent-decoded.
NOT_TEXT = ["%00", "x%00y", "%FF", "%C0%AF", "%ED%A0%80", "%0A", "%1B", "%7F"]
HUGE = "9223372036854775807"
LONG = "a" * 4000  # within aiohttp's 8 KiB request line
DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-02T00:00:00Z",
    "0001-01-01T00:00:00%2B14:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-12:00",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
]
# Every public route, with {} where a hostile value goes.
PATH_SLOTS = ["/m/{}", "/stats/{}.json", "/open311/v2/requests/{}.json", "/media/{}"]
QUERY_SLOTS = [
    "/?lang={}",
    "/m/naryn_city?lang={}",
    "/stats/naryn_city.json?x={}",
    "/try?lang={}",
    "/healthz?x={}",
    "/open311/v2/services.json?locale={}",
    "/open311/v2/services.json?jurisdiction_id={}",
    f"/media/{KEY}?sig={{}}&until=99999999999",
    f"/media/{KEY}?sig=0&until={{}}",
    *(
        f"/open311/v2/requests.json?{name}={{}}"
        for name in (
            "page",
            "page_size",
            "start_date",
            "end_date",
            "jurisdiction_id",
            "service_code",
            "status",
            "service_request_id",
            "locale",
        )
    ),
]
OPEN311 = "/open311/v2/requests.json?"
# (path, the status it must get)
CASES: list[tuple[str, int]] = [
    *((slot.format(value), 400) for slot in PATH_SLOTS + QUERY_SLOTS for value in NOT_TEXT),
    *((f"{OPEN311}{name}={value}", 400) for name in ("page", "page_size")
      for value in (HUGE, "99999999999", "0", "-1", "1e309", "%D9%A1", "1_0")),
    (f"{OPEN311}page=101", 400),
    (f"{OPEN311}page_size=201", 400),
    (f"{OPEN311}page=100&page_size=200", 200),  # the furthest page: empty, not an error
    *((f"{OPEN311}{name}={date}", 400) for name in ("start_date", "end_date") for date in DATES),
    *((f"{OPEN311}{name}={LONG}", 400) for name in (
        "jurisdiction_id", "service_code", "status", "service_request_id", "locale")),
    (f"{OPEN311}service_request_id={','.join(['1234567'] * 51)}", 400),
    (f"{OPEN311}service_request_id=12345%2C{HUGE}{HUGE}", 400),
    (f"{OPEN311}jurisdiction_id=naryn%20city", 400),
    (f"/open311/v2/requests/{LONG}.json", 404),
    (f"/open311/v2/requests/{HUGE * 3}.json", 404),
    (f"/open311/v2/requests/{HUGE[:16]}.json", 404),
    ("/open311/v2/requests/12%20OR%201=1.json", 404),
    (f"/m/{LONG}", 404),
    (f"/stats/{LONG}.json", 404),
    ("/stats/naryn%20city.json", 404),
    (f"/media/{LONG}", 404),
    (f"/media/{KEY}?sig=%C3%A9&until=99999999999", 404),  # not ASCII: no longer a 500
    (f"/media/{KEY}?sig=0&until={'9' * 5000}", 404),
]  # fmt: skip
# The Open311 routes again in the spec's default format: the same answers, in XML.
XML_CASES = [
    (path.replace(".json", ".xml", 1), status) for path, status in CASES
    if path.startswith("/open311/")
]  # fmt: skip


def spec_error(path: str, body: bytes) -> tuple[int, str]:
    """The one error of Open311's error list, as JSON or (for an .xml address) XML."""
    if urlsplit(path).path.endswith(".xml"):
        document = ElementTree.fromstring(body)
        [error] = document.findall("error")
        assert document.tag == "errors" and len(document) == 1, body[:200]
        return int(error.findtext("code") or 0), error.findtext("description") or ""
    [error] = json.loads(body)
    return error["code"], error["description"]


def traces(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info] + (
        ["Traceback"] if "Traceback" in caplog.text else []
    )


async def test_hostile_queries_on_every_public_route_are_refused_without_a_trace(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    runtime = await start_bot("webhook")
    wrong = []
    async with aiohttp.ClientSession() as http:
        for path, expected in CASES + XML_CASES:
            url = URL(runtime.base_url + path, encoded=True)  # sent as written
            async with http.get(url) as response:
                body = await response.read()
                if response.status != expected:
                    wrong.append((path[:80], response.status, body[:100]))
                elif path.startswith("/open311/") and expected >= 400:
                    code, description = spec_error(path, body)  # the spec's error list
                    assert code == expected and description, path
    assert wrong == []
    assert traces(caplog) == []


async def test_a_request_line_over_the_limit_is_one_line_in_the_log(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp answers it 400 itself; the log says so in a line, with no trace."""
    caplog.set_level(logging.INFO)
    runtime = await start_bot("webhook")
    status, _ = await raw(runtime, f"GET /m/{'a' * 9000} HTTP/1.1\r\n\r\n".encode())
    assert status == 400
    assert traces(caplog) == []
    assert any("400, LineTooLong" in r.getMessage() for r in caplog.records)


async def raw(runtime: Any, request: bytes, half_close: bool = False) -> tuple[int | None, bytes]:
    """A request written byte for byte (headers that are not ASCII, a body cut short); the
    status (None if the server closed without answering) and the body."""
    address = urlsplit(runtime.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head, _, rest = request.partition(b"\r\n")
    writer.write(head + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + rest)
    if half_close:
        writer.write_eof()  # the sender stops: fewer bytes than its Content-Length said
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    if not answer:
        return None, b""
    return int(answer.split(b" ", 2)[1]), answer.partition(b"\r\n\r\n")[2]


def post(path: str, content_type: str, body: bytes, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Content-Type: {content_type}"]
    lines += [f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def signature_of(body: bytes) -> dict[str, str]:
    """The Android app's signature headers (post() writes the content type)."""
    return {k: v for k, v in signed(body).items() if k != "Content-Type"}


def twilio_signed(path: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + path, form)}


MULTIPART = "multipart/form-data; boundary=XyZ"
FORM = "application/x-www-form-urlencoded"
# (name, content type, body): bodies that are not the form they say they are.
FIELD = b'--XyZ\r\nContent-Disposition: form-data; name="Body"\r\n'  # a part's head
BROKEN = [
    ("multipart cut before its end", MULTIPART, FIELD + b"\r\nhi"),
    ("multipart without a boundary", "multipart/form-data", b"--XyZ\r\n\r\n"),
    ("multipart of garbage", MULTIPART, b"\xff\xfe\x00garbage"),
    (
        "a multipart field without a name",
        MULTIPART,
        b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n",
    ),
    (
        "a multipart field in an unknown charset",
        MULTIPART,
        FIELD + b"Content-Type: text/plain; charset=nope\r\n\r\nhi\r\n--XyZ--\r\n",
    ),
    (
        "a multipart field in an unknown encoding",
        MULTIPART,
        FIELD + b"Content-Transfer-Encoding: rot13\r\n\r\nhi\r\n--XyZ--\r\n",
    ),
    ("raw bytes that are not UTF-8", FORM, b"Body=\xff\xfe&From=x"),
    ("a form in an unknown charset", f"{FORM}; charset=nonexistent", b"Body=hi"),
]
# Bodies a webhook takes only as a urlencoded form: Twilio refuses these too when signed.
NOT_A_FORM = [
    ("percent-escapes that are not UTF-8", FORM, b"Body=%FF%FE&From=%C0"),
    ("JSON", "application/json", b'{"Body": "x"}'),
    ("text", "text/plain", b"\xff\xff"),
]


def cut_short(request: bytes, **headers: str) -> bytes:
    """The request announcing its body's length and sending only 8 bytes of it."""
    head, _, body = request.partition(b"\r\n\r\n")
    extra = "".join(f"\r\n{k}: {v}" for k, v in headers.items()).encode()
    return head + extra + b"\r\n\r\n" + body[:8]


async def test_malformed_twilio_and_web_chat_bodies_are_refused_without_a_trace(
    start_bot: StartBot, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    runtime = await start_bot(
        "webhook", telegram_bot_token=None, **twilio_settings(twilio.base_url)
    )
    assert runtime.sms is not None
    sent = await runtime.sms.send(await resident(runtime), "Жообуңуз даяр")  # a status to come
    assert sent is not None and sent.provider_id
    wrong = []

    async def expect(name: str, request: bytes, expected: int | None) -> None:
        status, body = await raw(runtime, request)
        if status != expected:
            wrong.append((name, status, body[:80]))

    for path in ("/sms/twilio", "/sms/twilio/status"):
        for name, content_type, body in BROKEN + NOT_A_FORM:
            # Unsigned: refused before the body is read; with a signature header: 400.
            await expect(f"{path} unsigned, {name}", post(path, content_type, body), 403)
            anything = {"X-Twilio-Signature": "c2lnbmF0dXJl"}
            await expect(f"{path} {name}", post(path, content_type, body, **anything), 400)
        cut = cut_short(post(path, FORM, b"Body=" + b"x" * 95), **anything)
        status, _ = await raw(runtime, cut, half_close=True)
        assert status in (None, 400, 403), path
    # Status callbacks, signed, with what Twilio never writes: a NUL (which PostgreSQL refuses
    # in a query), an error code past the integer column, a digit of another script.
    path = "/sms/twilio/status"
    for odd in ({"MessageSid": "SM\x00"}, {"ErrorCode": "9" * 20}, {"ErrorCode": "²"}):
        form = {"MessageSid": str(sent.provider_id), "MessageStatus": "delivered", **odd}
        request = post(path, FORM, urlencode(form).encode(), **twilio_signed(path, form))
        await expect(f"{path} signed {odd}", request, 400)
    # The web chat, from no visitor of ours: refused before the body is read, as Twilio's are
    # unsigned (with a visitor's cookie, a broken body is a 400: test_webchat_identities.py).
    for name, content_type, body in BROKEN:
        await expect(f"/try {name}", post("/try", content_type, body), 403)
    cut = cut_short(post("/try", FORM, b"text=" + b"x" * 95))
    assert (await raw(runtime, cut, half_close=True))[0] in (None, 403)
    assert wrong == []
    assert traces(caplog) == []


async def test_malformed_android_and_telegram_bodies_are_refused_without_a_trace(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    gateway = FakeGateway()  # where the answers go
    await gateway.start()
    runtime = await start_bot("webhook", **android_settings(gateway.base_url))
    path, json_type = "/sms/android", "application/json"
    resident_text = {"messageId": "m1", "message": "a\x00b", "phoneNumber": "+996555000111"}
    nul = event_body("sms:received", {**resident_text, "simNumber": 1})
    for body, expected in (
        (b"\xff\xfe{", 400),  # not UTF-8
        (b'{"event": "sms:received", "payload": "x"}', 400),
        (b"[1, 2]", 400),
        (b"{" * 100_000, 400),
        (nul, 204),  # taken: the handlers take control characters out of a resident's text
        (event_body("sms:delivered", {"messageId": "\x00"}), 204),  # no message of ours
        (received("+996555000111", "ok")[:-5], 400),  # truncated JSON
    ):
        got = await raw(runtime, post(path, json_type, body, **signature_of(body)))
        assert got[0] == expected, got
        assert (await raw(runtime, post(path, json_type, body)))[0] == 403  # unsigned
    for headers in (
        b"X-Signature: \xc3\xa9\xc3\xa9\r\nX-Timestamp: 1",  # not ASCII: no longer a 500
        b"X-Signature: ab\r\nX-Timestamp: \xc2\xb2",  # a superscript two is a digit to int()
        b"X-Signature: ab\r\nX-Timestamp: " + b"9" * 40,
    ):
        request = post(path, json_type, b"{}").replace(b"\r\n\r\n", b"\r\n" + headers + b"\r\n\r\n")
        assert (await raw(runtime, request))[0] == 403, headers
    gzip = {"Content-Encoding": "gzip"}  # and not gzip at all
    inflated = b"\x1f\x8b\x08garbage"
    assert (await raw(runtime, post(path, json_type, inflated, **gzip)))[0] in (400, 403)
    signed_gzip = {**signature_of(inflated), **gzip}
    assert (await raw(runtime, post(path, json_type, inflated, **signed_gzip)))[0] in (400, 403)
    body = b"{" + b" " * 99
    cut = cut_short(post(path, json_type, body, **signature_of(body)))
    assert (await raw(runtime, cut, half_close=True))[0] in (None, 400, 403)
    secret = {"X-Telegram-Bot-Api-Secret-Token": runtime.settings.webhook_secret()}
    for given in (b"\xff\xfe", "é".encode()):  # a secret that is not ASCII, or not UTF-8
        request = post("/telegram/webhook", json_type, b"{}").replace(
            b"\r\n\r\n", b"\r\nX-Telegram-Bot-Api-Secret-Token: " + given + b"\r\n\r\n"
        )
        assert (await raw(runtime, request))[0] == 401, given
    cut = cut_short(post("/telegram/webhook", json_type, body, **secret))
    assert (await raw(runtime, cut, half_close=True))[0] in (None, 400)
    # Nested past any update: broken JSON, and JSON that is whole but 5,000 levels deep.
    deep = b'{"update_id": 1, "message": ' * 5_000 + b"{}" + b"}" * 5_000
    for body in (b"[" * 100_000, deep):
        assert (await raw(runtime, post("/telegram/webhook", json_type, body, **secret)))[0] == 400
    await runtime.stop()  # the answer under way is sent first
    await gateway.stop()
    assert gateway.texts_to("+996555000111")
    assert traces(caplog) == []


async def test_a_compressed_body_that_does_not_inflate_is_refused_without_a_trace(
    start_bot: StartBot, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody we take messages from compresses a request; a body that claims to be gzip or
    deflate and is not is refused like any other unreadable body, signed or not."""
    from tests.test_webchat_identities import fresh_get

    caplog.set_level(logging.INFO)
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    cookie = (await fresh_get(runtime.base_url)).cookies["civic_chat"].value
    secret = {"X-Telegram-Bot-Api-Secret-Token": runtime.settings.webhook_secret()}
    twilio_header = {"X-Twilio-Signature": "c2lnbmF0dXJl"}
    garbage = b"\x1f\x8b\x08garbage"
    not_inflatable = ("br", "x-made-up")
    for encoding in ("gzip", "deflate", "br", "x-made-up"):
        for path, content_type, headers, expected in (
            ("/try", FORM, {"Cookie": f"civic_chat={cookie}"}, 400),
            ("/try", FORM, {}, 403),
            ("/telegram/webhook", "application/json", secret, 400),
            ("/telegram/webhook", "application/json", {}, 401),
            ("/sms/twilio", FORM, twilio_header, 400),
            ("/sms/twilio", FORM, {}, 403),
            ("/sms/twilio/status", FORM, twilio_header, 400),
            ("/open311/v2/requests.json", FORM, {}, 405),  # no form route: never read
        ):
            request = post(path, content_type, garbage, **headers, **{"Content-Encoding": encoding})
            status = (await raw(runtime, request))[0]
            # An encoding aiohttp cannot read at all (no brotli here) it refuses itself: 400.
            refused_at_the_door = 400 if encoding in not_inflatable else expected
            assert status in (expected, refused_at_the_door), (path, encoding)
    assert traces(caplog) == []


async def test_a_twilio_signature_of_bytes_that_are_not_text_is_refused(
    start_bot: StartBot, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    """A signature header that is not UTF-8 (aiohttp keeps its bytes as surrogates) is a 403
    like any wrong signature, not a fault of ours."""
    caplog.set_level(logging.INFO)
    runtime = await start_bot(
        "webhook", telegram_bot_token=None, **twilio_settings(twilio.base_url)
    )
    for path in ("/sms/twilio", "/sms/twilio/status"):
        head, _, rest = post(path, FORM, b"Body=hi&From=%2B996555123456").partition(b"\r\n")
        request = head + b"\r\nX-Twilio-Signature: \xff\xfeab==" + b"\r\n" + rest
        assert (await raw(runtime, request))[0] == 403, path
    assert traces(caplog) == []
