"""Signing in by the one-time link the bot sent (handlers/console_links.py), and out.

GET /staff/login/TOKEN shows a page with one button: link previewers and mail scanners open
links, and only the POST uses one — in one conditional UPDATE, so that of two tabs one signs
in. A used or expired link is a 410, an unknown one a 404, each a line saying to ask the
bot again. Signing in and out are written to the audit log."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web import http_input, pages
from bot.web.staff import access
from bot.web.staff.base import VIA, Result, StaffPages, redirect, server_timing
from handlers import console_links
from storage import queries
from storage.models import utcnow
from storage.queries import audit, console

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class SignIn(StaffPages):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/staff/login/{token}", server_timing(self.confirm)),
            web.post("/staff/login/{token}", server_timing(self.login)),
            web.post("/staff/logout", server_timing(self.logout)),
        ]

    async def confirm(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        token = request.match_info["token"]
        if TOKEN.fullmatch(token) is None:
            return self._refusal(language, 404, "console.link_unknown")
        async with self.runtime.db.session() as session:
            link = await console.link_of(
                session, console_links.token_keys(self.runtime.pseudonyms, token)
            )
        why = _link_problem(link, utcnow())
        if why is not None:
            return self._refusal(language, *why)
        return self._page("login.html", language, token=token, official=None)

    async def login(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        token = request.match_info["token"]
        if TOKEN.fullmatch(token) is None:
            return self._refusal(language, 404, "console.link_unknown")
        if cross_site(request, self.runtime.settings.public_base_url):
            return self._refusal(language, 403, "console.cross_site")
        keys = console_links.token_keys(self.runtime.pseudonyms, token)
        now = utcnow()

        async def work(session: AsyncSession) -> Result:
            # Whatever this browser was signed in as ends here, whoever the link is for.
            await access.end_held(session, self.runtime.pseudonyms, request, now)
            person_id = await console.use_link(session, keys, now)
            if person_id is None:
                status, key = _link_problem(await console.link_of(session, keys), now) or (
                    404,
                    "console.link_unknown",
                )
                return Result(status, key)
            person = await queries.person_by_id(session, person_id)
            places = await queries.official_places(session, person) if person else []
            if not places:
                return Result(403, "console.officials_only")
            cookie = access.new_session(session, self.runtime.pseudonyms, person_id, now)
            await audit.record(
                session, person_id=person_id, municipality_id=places[0][1].id, via=VIA,
                action="login",
            )  # fmt: skip
            return Result(location="/staff", extra={"cookie": cookie})

        result = await self.runtime.db.write(work)
        if result.refusal is not None:
            return self._refusal(language, result.status, result.refusal)
        response = web.HTTPSeeOther(location=str(result.location))
        access.set_cookie(response, str(result.extra["cookie"]))
        return redirect(response)

    async def logout(self, request: web.Request) -> web.Response:
        form = await http_input.form_of(request)
        if form is None:
            return self._refusal(pages.language_of(request), 400, "console.bad_request", why="form")
        now = utcnow()

        async def work(session: AsyncSession) -> Result:
            official = await self._official(session, request)
            if official is None:
                return Result(401, "console.signed_out")
            if not access.csrf_ok(official, form.get(access.CSRF_FIELD)):
                return Result(403, "console.csrf", official=official)
            await console.end_session(session, official.session_key, now)
            await audit.record(
                session, person_id=official.person.id,
                municipality_id=(*official.staff, *official.deputy)[0], via=VIA, action="logout",
            )  # fmt: skip
            return Result(200, official=official)

        result = await self.runtime.db.write(work)
        language = self._language(request, result.official)
        if result.refusal is not None:
            return self._refusal(language, result.status, result.refusal)
        response = self._refusal(language, 200, "console.logged_out")
        access.clear_cookie(response)
        return response


def cross_site(request: web.Request, public_base_url: str | None) -> bool:
    """Whether the sign-in was posted from another site's page (login CSRF: a stranger's link
    signing this browser in as them). Sec-Fetch-Site when the browser sends it, else Origin
    against PUBLIC_BASE_URL; a client that sends neither (an old browser, a script) passes:
    the token is the proof (docs/decisions.md)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site != "same-origin"
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin.rstrip("/").lower() != origin_of(public_base_url or "")


def origin_of(url: str) -> str:
    """The origin (scheme://host[:port]) of an address, as a browser's Origin header says it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _link_problem(link: Any, now: datetime) -> tuple[int, str] | None:
    """Why a one-time link opens nothing: unknown (404), used or expired (410)."""
    if link is None:
        return 404, "console.link_unknown"
    if link.used_at is not None:
        return 410, "console.link_used"
    if link.expires_at <= now:
        return 410, "console.link_expired"
    return None
