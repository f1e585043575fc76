"""What every console page shares: rendering in the official's language (never cached),
the short refusal pages, who is signed in, the session's idle clock, the server's time in
Server-Timing, and what a form's transaction decides (`Result`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web import pages
from bot.web.staff import access
from bot.web.staff.access import Official
from handlers.types import Text
from storage.models import utcnow
from storage.queries import console

if TYPE_CHECKING:
    from bot.runtime.served import Served

VIA = "console"  # the audit log's and the answers' channel
NO_STORE = {"Cache-Control": "no-store"}
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass
class Result:
    """What a form's transaction decided: a refusal page, a redirect, or the card again
    with a note (an answer too long, a wish changed meanwhile)."""

    status: int = 303
    refusal: str | None = None  # catalogue key of the refusal page
    location: str | None = None
    note: Text | None = None
    prefill: str = ""
    official: Official | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def server_timing(handler: Handler) -> Handler:
    """The server's time for the page in Server-Timing (bench/console.py reads it)."""

    async def run(request: web.Request) -> web.Response:
        started = time.perf_counter()
        response = await handler(request)
        spent = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={spent:.1f}"
        return response

    return run


def redirect(to: web.HTTPException) -> web.Response:
    """A redirect as a response (returned, not raised: the middlewares see its headers)."""
    response = web.Response(status=to.status, headers=to.headers)
    for morsel in to.cookies.values():
        response.cookies[morsel.key] = morsel
    return response


class StaffPages:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime

    def _page(self, template: str, language: str, status: int = 200, **values: Any) -> web.Response:
        return pages.render(
            self.runtime.catalogues,
            f"staff/{template}",
            language,
            status=status,
            headers=dict(NO_STORE),
            **values,
        )

    def _refusal(self, language: str, status: int, key: str, **values: Any) -> web.Response:
        message = self.runtime.catalogues.text(language, Text(key, values))
        return self._page("refused.html", language, status, message=message, official=None)

    def _language(self, request: web.Request, official: Official | None) -> str:
        if "lang" in request.query or official is None:
            return pages.language_of(request)
        return official.person.language

    def _today(self) -> date:
        return datetime.now(ZoneInfo(self.runtime.settings.timezone)).date()

    async def _official(self, session: AsyncSession, request: web.Request) -> Official | None:
        return await access.official_of(session, self.runtime.pseudonyms, request, utcnow())

    async def _seen(self, official: Official) -> None:
        """The session was used: its idle time starts again (written at most once a minute)."""
        if not official.stale:
            return
        now = utcnow()

        async def work(session: AsyncSession) -> None:
            await console.touch_session(session, official.session_key, now)

        await self.runtime.db.write(work)

    def _signed_out(self, request: web.Request) -> web.Response:
        return self._refusal(self._language(request, None), 401, "console.signed_out")
