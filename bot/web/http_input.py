"""What comes in over HTTP, checked at the door (docs/open-data.md): an address whose path or
query is not text (invalid UTF-8 once percent-decoded, or a NUL or another control
character, which PostgreSQL refuses with a trace); a posted form that cannot be read; the
shapes of keys and references in a URL. Refused with 400, short, never a trace."""

from __future__ import annotations

import hmac
import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote_to_bytes

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy

from bot.web import georeport_xml
from storage.domain import is_municipality_key

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

OPEN311 = "/open311/"  # where refusals are Open311's error list
URLENCODED = "application/x-www-form-urlencoded"  # the form Twilio posts
CONTROL = re.compile("[\x00-\x1f\x7f]")
REFERENCE = re.compile(r"[0-9]{1,16}")  # a wish's reference: digits, in a String(16)
MAX_FIELDS = 100  # in a webhook's form; Twilio sends about 20
# What reading a form that is not one raises (aiohttp's parser: a multipart body without its
# boundary, an unknown charset or encoding, undecodable bytes), and a body cut short.
UNREADABLE = (ValueError, LookupError, RuntimeError, AssertionError, TypeError)
# A body cut short, or one that claims a Content-Encoding it does not have (gzip that is not).
CUT_SHORT = (OSError, HttpProcessingError, web.RequestPayloadError)


class BadRequestsInOneLine(logging.Filter):
    """aiohttp answers a request it cannot parse (a line over 8 KiB, a broken header) with
    400 itself, and logs the sender's mistake as an error with a trace; so it does when it
    reads on past our answer a body that does not inflate (gzip that is not). One line is
    enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, web.RequestPayloadError):
            error = error.__cause__
        if isinstance(error, HttpProcessingError):
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg}: 400, {type(error).__name__}"
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_bad_requests() -> None:
    """Install the filter once on aiohttp's server log."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, BadRequestsInOneLine) for f in server.filters):
        server.addFilter(BadRequestsInOneLine())


class Unreadable(ValueError):
    """A body that is not what its content type says, or that never arrived whole."""


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of what a sender gave (a header, a cookie, a form field) and a
    secret, whatever characters it holds: `hmac.compare_digest` raises on text outside ASCII,
    and a header's undecodable bytes come as surrogates that do not encode."""
    return hmac.compare_digest(given.encode("utf-8", errors="replace"), expected.encode())


def text_url(raw: str) -> bool:
    """Whether a raw path or query, percent-decoded, is UTF-8 without control characters."""
    try:
        decoded = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return CONTROL.search(decoded) is None


def errors(status: int, description: str, xml: bool = False) -> web.Response:
    """The Open311 spec's error list, [{"code": …, "description": …}] (the statistics
    JSON's too); or, for an address that asked for XML, <errors><error>…</error></errors>."""
    if xml:
        body = georeport_xml.errors(status, description)
        return web.Response(
            body=body, status=status, content_type=georeport_xml.CONTENT_TYPE, charset="utf-8"
        )
    return web.json_response([{"code": status, "description": description}], status=status)


def refusal(request: web.Request, why: str) -> web.Response:
    """400: as Open311's error list under its path (XML where the address ends in .xml),
    else a line of text."""
    if request.path.startswith(OPEN311):
        return errors(400, why, xml=request.path.endswith(".xml"))
    return web.Response(text=why + "\n", status=400)


@web.middleware
async def text_addresses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route: an address that is not text reaches no handler and no query."""
    url = request.rel_url
    if not (text_url(url.raw_path) and text_url(url.raw_query_string)):
        return refusal(request, "the address holds bytes that are not text")
    return await handler(request)


async def form_of(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField] | None:
    """The posted form, as aiohttp reads it (and keeps it for `request.post()`); None for a
    body that is not one: broken, in an unknown charset, cut short, or not the encoding it
    claims. Every route that takes a form reads it with this (or `body_of`), after its own
    check of who is sending where the body allows, and answers None with a 400."""
    try:
        return await request.post()
    except (*UNREADABLE, *CUT_SHORT):
        return None


async def body_of(request: web.Request) -> bytes:
    """The whole body (413 past the app's limit); Unreadable if the sender stopped sending."""
    try:
        return await request.read()
    except CUT_SHORT:
        raise Unreadable("the body was cut short") from None


def urlencoded(body: bytes, charset: str | None) -> MultiDictProxy[str]:
    """A form as Twilio posts it, read strictly (UTF-8, percent-escapes too); else Unreadable.
    Control characters stay: the handlers take them out of what a resident typed."""
    if charset is not None and charset.lower() != "utf-8":
        raise Unreadable(f"a form in {charset[:16]}, not UTF-8")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError too; or too many fields
        raise Unreadable("the form is not UTF-8 text") from None
    return MultiDictProxy(MultiDict(pairs))


def municipality_key(text: str) -> bool:
    """Whether a municipality could have this key (compared in lower case)."""
    return is_municipality_key(text.lower())


def reference(text: str) -> bool:
    return REFERENCE.fullmatch(text) is not None
