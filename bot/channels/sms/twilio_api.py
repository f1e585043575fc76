"""The three things the bot needs from Twilio, over the aiohttp it uses for every provider:
a webhook's signature checked, a TwiML answer written, and one message handed to the
Messages API. (The `twilio` package, with its REST client and `requests`, is ~50 MB of the
runtime environment for these; it stays in the `dev` extra, the reference the tests compare
this module with: docs/decisions.md.)"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse
from xml.sax.saxutils import escape

import aiohttp
from multidict import MultiMapping

from bot.channels.pictures import basic_authorization

API_VERSION = "2010-04-01"
SEND_TIMEOUT = aiohttp.ClientTimeout(total=30)  # one message handed over, connection to answer
# What XML 1.0 cannot carry at all (control characters but tab, LF and CR; surrogates; the
# two non-characters): Twilio refuses TwiML holding one, and the resident would hear nothing.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --- webhooks' signatures ------------------------------------------------------------------


def signature(token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 with the auth token of the URL followed by each
    POST parameter's name and value, names sorted (a repeated name: its distinct values
    sorted, as twilio's RequestValidator does), in base64."""
    return _signature(token, url, _signed_params(params))


def _signed_params(params: Mapping[str, str]) -> str:
    """What follows the URL in the signed text: the same for every URL tried."""
    multi = params if isinstance(params, MultiMapping) else None  # asked once, not per name
    return "".join(
        name + value
        for name in sorted(set(params))
        for value in (sorted(set(multi.getall(name))) if multi is not None else (params[name],))
    )


def _signature(token: str, url: str, signed_params: str) -> str:
    digest = hmac.digest(token.encode(), (url + signed_params).encode(), "sha1")
    return base64.b64encode(digest).decode()


def signed(token: str, url: str, params: Mapping[str, str], given: str) -> bool:
    """Whether `given` is Twilio's signature of this form posted to `url`, with the URL's
    port written or left out (Twilio signs either way): as configured first, the URL Twilio
    posts to, and the other only if that fails. Forms only: our webhooks refuse a JSON
    body, so the `bodySHA256` query parameter of JSON webhooks is not checked."""
    if not given.isascii():  # base64 never is otherwise (aiohttp keeps bytes as surrogates)
        return False
    expected, signed_params = given.encode(), _signed_params(params)

    def matches(each: str) -> bool:
        return hmac.compare_digest(_signature(token, each, signed_params).encode(), expected)

    return any(matches(each) for each in _port_variants(url))


@functools.lru_cache(maxsize=16)  # a webhook's few URLs, each parsed once
def _port_variants(url: str) -> tuple[str, ...]:
    """The URL as Python's urlparse writes it back (twilio's RequestValidator checks no
    other writing), then with its port left out if it has one, or with the scheme's default
    port written if it has none."""
    parts = urlparse(url)
    try:
        port = parts.port
    except ValueError:  # not a number: no URL Twilio posted to, and no second to try
        return (url,)
    if port:
        host = parts.netloc.rpartition(":")[0]
        return parts.geturl(), parts._replace(netloc=host).geturl()
    default = 443 if parts.scheme == "https" else 80
    return parts.geturl(), parts._replace(netloc=f"{parts.netloc}:{default}").geturl()


# --- TwiML -------------------------------------------------------------------------------


def twiml(text: str) -> str:
    """The answer to an inbound webhook: `text` as one message, or none when it is empty."""
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    text = NOT_XML.sub("", text)
    if not text:
        return f"{head}<Response />"
    return f"{head}<Response><Message>{escape(text)}</Message></Response>"


# --- the Messages API -------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    sid: str
    status: str


class ApiError(Exception):
    """Twilio answered an error: its HTTP status, and its own error code when it gave one
    (its error JSON: {"code": 21610, "message": "…", "status": 400, "more_info": "…"})."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class MessagesApi:
    """POST {TWILIO_API_BASE_URL}/2010-04-01/Accounts/{sid}/Messages.json, with the account's
    SID and auth token as basic authentication; one HTTP session, opened at the first send."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str) -> None:
        self.url = f"{base_url}/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self._headers = {"Authorization": basic_authorization(account_sid, auth_token)}
        self._http: aiohttp.ClientSession | None = None

    async def create(self, fields: Mapping[str, str]) -> Created:
        """One message (fields To, From, Body or ContentSid and ContentVariables, and
        StatusCallback); ApiError if Twilio refuses it. Network errors and timeouts are
        aiohttp's and asyncio's own."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=SEND_TIMEOUT)
        async with self._http.post(self.url, data=dict(fields), headers=self._headers) as response:
            # A proxy's error page may be in any charset: read as text, whatever it holds.
            text = (await response.read()).decode("utf-8", "replace")
            answer = _json_object(text)
            if not 200 <= response.status < 300:
                code = answer.get("code")
                message = str(answer.get("message") or text[:200])
                raise ApiError(response.status, code if isinstance(code, int) else None, message)
        sid, status = answer.get("sid"), answer.get("status")
        if not isinstance(sid, str) or not isinstance(status, str):
            raise ApiError(response.status, None, "an answer without the message's sid")
        return Created(sid, status)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def _json_object(text: str) -> dict[str, Any]:
    """Twilio's JSON answer, or {} when it is not an object (a proxy's HTML error page)."""
    try:
        answer = json.loads(text)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
