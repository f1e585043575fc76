"""A web chat visitor without a browser: the cookie the server issues kept, forms posted as
a browser posts them, from a client address of the test's choosing (any of 127.0.0.0/8)."""

from __future__ import annotations

import html
import re

import aiohttp

from tests.places import category

COOKIE = "civic_chat"


def session_from(address: str = "127.0.0.1", jar: bool = True) -> aiohttp.ClientSession:
    """An HTTP client whose connections come from `address`; with a cookie jar that keeps
    what 127.0.0.1 sets, or with none (each request is a browser seen for the first time)."""
    cookies: aiohttp.abc.AbstractCookieJar = (
        aiohttp.CookieJar(unsafe=True) if jar else aiohttp.DummyCookieJar()
    )
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return aiohttp.ClientSession(cookie_jar=cookies, connector=connector)


class WebVisitor:
    """A browser without a browser: cookies kept, forms posted as a browser posts them."""

    def __init__(self, base_url: str, http: aiohttp.ClientSession) -> None:
        self.base_url, self.http = base_url, http
        self.page = ""

    async def open(self) -> int:
        async with self.http.get(f"{self.base_url}/try?lang=en") as response:
            self.page = await response.text()
            return response.status

    def field(self, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', self.page)
        assert match is not None, self.page
        return match.group(1)

    def buttons(self) -> dict[str, str]:
        found = re.findall(r'name="button" value="([^"]+)">([^<]+)<', self.page)
        return {label: payload for payload, label in found}

    def commands(self) -> dict[str, str]:
        """The command buttons under the form: label -> command."""
        found = re.findall(r'name="command" value="([^"]+)">([^<]+)<', self.page)
        return {html.unescape(label): command for command, label in found}

    def conversation(self) -> list[str]:
        """Every message on the page, the visit's earlier ones first."""
        message = r'<div class="msg(?: you)?"(?: role="status")?>(.*?)</div>'
        found = re.findall(message, self.page, re.S)
        return [html.unescape(message) for message in found]

    async def post(self, keep_page: bool = True, **data: str) -> tuple[int, str]:
        """A form as the browser sends it: its hidden fields (the visit's conversation too)."""
        hidden = {name: self.field(name) for name in ("csrf", "m", "history")}
        form = {**hidden, **data}
        async with self.http.post(f"{self.base_url}/try?lang=en", data=form) as response:
            text = await response.text()
        if keep_page and response.status == 200:
            self.page = text
        return response.status, text

    def messages(self) -> list[str]:
        found = re.findall(r'<div class="msg" role="status">(.*?)</div>', self.page, re.S)
        return [html.unescape(message) for message in found]

    async def settle_in_naryn(self) -> None:
        """Open the chat and go through /start: English, Naryn city."""
        assert await self.open() == 200
        await self.post(text="/start")
        await self.post(button=self.buttons()["English"])
        await self.post(button=self.buttons()["Naryn Region"])
        await self.post(button=self.buttons()["Naryn city"])

    async def leave_wish(self, text: str) -> list[str]:
        """/change with the text, then the topic Roads: what the bot said last."""
        await self.post(text=f"/change {text}")
        status, _ = await self.post(button=self.buttons()[category("roads")["en"]])
        assert status == 200
        return self.messages()
