"""Posting to our Twilio webhooks as Twilio does, signature included; and a fake of Twilio's
Messages REST endpoint for what we send, and of its media URLs for what residents send (an
MMS or WhatsApp image: behind the account's credentials, redirecting to the file as Twilio
does)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import PUBLIC_BASE_URL

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "test-auth-token-not-a-real-one"
FROM_NUMBER = "+15005550006"
WHATSAPP_FROM = "whatsapp:+15005550006"

_sids = itertools.count(1)


def twilio_settings(api_base_url: str = "http://127.0.0.1:9/unused") -> dict[str, Any]:
    return {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": FROM_NUMBER,
        "twilio_whatsapp_from": WHATSAPP_FROM,
        "twilio_api_base_url": api_base_url,
    }


def signature(url: str, params: Mapping[str, str], token: str = AUTH_TOKEN) -> str:
    """As Twilio computes it: HMAC-SHA1 of the URL followed by each parameter's name and
    value, sorted by name, in base64."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def inbound_form(sender: str, body: str, **extra: str) -> dict[str, str]:
    form = {
        "MessageSid": new_sid(),
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": FROM_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    form.update(extra)
    return form


async def post_signed(
    base_url: str,
    path: str,
    form: Mapping[str, str],
    *,
    sign_url: str | None = None,
    token: str = AUTH_TOKEN,
    signed: bool = True,
) -> tuple[int, str]:
    headers = {}
    if signed:
        headers["X-Twilio-Signature"] = signature(sign_url or PUBLIC_BASE_URL + path, form, token)
    async with (
        aiohttp.ClientSession() as http,
        http.post(base_url + path, data=dict(form), headers=headers) as response,
    ):
        return response.status, await response.text()


@dataclass
class FakeTwilio:
    """Twilio's POST /2010-04-01/Accounts/{sid}/Messages.json on 127.0.0.1."""

    sent: list[dict[str, str]] = field(default_factory=list)
    # Answers to give before succeeding: (HTTP status, Twilio error code or None).
    failures: list[tuple[int, int | None]] = field(default_factory=list)
    # Answers from a proxy in front of Twilio: a status and a page in no charset in particular.
    proxy_pages: list[tuple[int, bytes]] = field(default_factory=list)
    attempts: int = 0
    # Residents' images by media sid; a sid in `missing` answers 404, in `slow` never answers.
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    slow: set[str] = field(default_factory=set)
    media_fetches: int = 0

    def add_media(self, content: bytes, content_type: str = "image/jpeg") -> str:
        """An image a resident sent; the URL Twilio gives for it in MediaUrl0."""
        sid = new_sid("ME")
        self.media[sid] = (content, content_type)
        message = new_sid("MM")
        return f"{self.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message}/Media/{sid}"

    async def wait_for(self, done: Callable[[list[dict[str, str]]], bool]) -> None:
        """Wait until `done(sent)` holds, looking again after every message taken."""
        async with asyncio.timeout(10), self._taken:
            await self._taken.wait_for(lambda: done(self.sent))

    async def start(self) -> None:
        self._taken = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        media = "/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}"
        app.router.add_get(media, self._media)
        app.router.add_get("/files/{media}", self._file)
        # A stop does not wait out a medium that never answers (`slow`).
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _media(self, request: web.Request) -> web.Response:
        """With the account's credentials, a redirect to the file (Twilio's 307)."""
        if not _authorised(request):
            return web.json_response({"code": 20003, "status": 401}, status=401)
        self.media_fetches += 1
        sid = request.match_info["media"]
        if sid in self.slow:
            await asyncio.sleep(5)  # longer than the test lets the bot wait
        if sid in self.missing or sid not in self.media:
            return web.json_response({"code": 20404, "status": 404}, status=404)
        raise web.HTTPTemporaryRedirect(f"/files/{sid}")

    async def _file(self, request: web.Request) -> web.Response:
        content, content_type = self.media[request.match_info["media"]]
        return web.Response(body=content, content_type=content_type)

    async def _create(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if not _authorised(request):
            return web.json_response({"code": 20003, "status": 401}, status=401)
        form = {name: str(value) for name, value in (await request.post()).items()}
        if self.proxy_pages:
            status, page = self.proxy_pages.pop(0)
            return web.Response(body=page, status=status, content_type="text/html")
        if self.failures:
            status, code = self.failures.pop(0)
            body: dict[str, Any] = {"status": status, "message": "fake failure", "code": code}
            return web.json_response(body, status=status)
        sid = new_sid()
        self.sent.append({**form, "Sid": sid})
        async with self._taken:
            self._taken.notify_all()
        return web.json_response(
            {
                "sid": sid,
                "status": "queued",
                "to": form["To"],
                "from": form["From"],
                "account_sid": ACCOUNT_SID,
            },
            status=201,
        )


def _authorised(request: web.Request) -> bool:
    auth = aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
    return (request.match_info["sid"], auth.login, auth.password) == (
        ACCOUNT_SID,
        ACCOUNT_SID,
        AUTH_TOKEN,
    )
