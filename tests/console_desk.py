"""The staff console on the real wire, for the tests: an official asks the bot for a link
(/web on the fake Bot API), and a `Desk` — an HTTP client that keeps the console's cookie —
opens it. The cookie is Secure; the tests' server is plain http on 127.0.0.1, which browsers
count as secure, so the Desk sends it there as a browser does."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.conftest import PUBLIC_BASE_URL, Civicbot
from tests.digests import official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.resident import Resident

LINK = re.compile(re.escape(PUBLIC_BASE_URL) + r"(/staff/login/[A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')


async def link_for(official: Resident, telegram: FakeTelegram) -> str:
    """The path of the link the bot sent for /web, read off the fake Bot API."""
    [answer] = await official.send("/web")
    match = LINK.search(answer)
    assert match is not None, answer
    return match.group(1)


@dataclass
class Page:
    status: int
    text: str
    headers: Any

    def csrf(self) -> str:
        match = CSRF.search(self.text)
        assert match is not None, self.text[:500]
        return match.group(1)

    def version(self) -> str:
        match = VERSION.search(self.text)
        assert match is not None, self.text[:500]
        return match.group(1)


@dataclass
class Desk:
    """One browser at the console: its cookie, sent back as a browser would."""

    base_url: str
    cookie: str | None = None
    cookies_set: list[str] = field(default_factory=list)

    async def get(self, path: str) -> Page:
        return await self._request("GET", path)

    async def post(
        self,
        path: str,
        form: dict[str, Any] | list[tuple[str, str]],
        headers: dict[str, str] | None = None,
    ) -> Page:
        return await self._request("POST", path, data=form, more_headers=headers or {})

    async def sign_in(self, path: str) -> Page:
        """Open the link (the confirm page), press its button; the page it leads to."""
        confirm = await self.get(path)
        assert confirm.status == 200, confirm.text
        signed = await self.post(path, {"confirm": "1"})
        assert signed.status == 303, signed.text
        return await self.get(signed.headers["Location"])

    async def _request(
        self, method: str, path: str, more_headers: dict[str, str] | None = None, **options: Any
    ) -> Page:
        headers = {"Accept-Language": "en", **(more_headers or {})}
        if self.cookie is not None:
            headers["Cookie"] = f"civicbot_staff={self.cookie}"
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.request(
                method, self.base_url + path, headers=headers, allow_redirects=False, **options
            ) as response,
        ):
            text = await response.text()
            for line in response.headers.getall("Set-Cookie", []):
                self.cookies_set.append(line)
                morsel = SimpleCookie(line).get("civicbot_staff")
                if morsel is not None:
                    self.cookie = morsel.value or None
            return Page(response.status, text, response.headers)


async def raw_get(base_url: str, path: str, cookie: bytes) -> int:
    """A GET whose Cookie header carries bytes as sent (an HTTP client would encode them)."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + parts.netloc.encode()
            + b"\r\nCookie: civicbot_staff=" + cookie + b"\r\nConnection: close\r\n\r\n"
        )  # fmt: skip
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


async def staff_desk(
    runtime: Any,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    user_id: int,
    role: str = "staff",
    municipality: str = "naryn_city",
) -> tuple[Resident, Desk]:
    """An official on Telegram, signed in at the console by the link the bot sent."""
    official = await official_on_telegram(
        runtime, telegram, civicbot, user_id, "en", role=role, municipality=municipality
    )
    desk = Desk(runtime.base_url)
    page = await desk.sign_in(await link_for(official, telegram))
    assert page.status == 200, page.text
    return official, desk
