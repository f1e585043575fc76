"""Who is at the console: the session cookie, its idle expiry, and the CSRF token every form
carries (docs/operations.md, "The staff console").

The cookie holds a random token; the database keeps only its keyed hash (a copy of the
table opens no session). HttpOnly, Secure, SameSite=Strict, Path=/staff. A session ends on
logout, after SESSION_IDLE without a request, and SESSION_LIFETIME after it began. Its CSRF
token is random per session and compared in constant time.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web.http_input import same_secret
from handlers.console_links import SESSION_IDLE, SESSION_LIFETIME
from handlers.pseudonyms import Pseudonyms
from storage import queries
from storage.models import ConsoleSession, Person
from storage.queries import console

COOKIE = "civicbot_staff"
PATH = "/staff"
TOUCH_AFTER = timedelta(minutes=1)  # last_seen_at is written at most this often
PURPOSE = "console-session"  # of the keyed hash that stores a cookie's token
COOKIE_BYTES = 32
CSRF_BYTES = 24
CSRF_FIELD = "csrf"
# What token_urlsafe(COOKIE_BYTES) makes: anything else (bytes that are not UTF-8, which
# the keyed hash cannot encode) is no session, never a 500.
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Official:
    """A signed-in browser's person and where they may read (staff and deputy) and act (staff)."""

    session_key: str
    person: Person
    csrf: str
    staff: tuple[int, ...]
    deputy: tuple[int, ...]
    stale: bool  # last seen more than TOUCH_AFTER ago: the request writes when it was seen

    @property
    def readable(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys((*self.staff, *self.deputy)))


def new_session(
    session: AsyncSession, pseudonyms: Pseudonyms, person_id: int, now: datetime
) -> str:
    """A session for the person; the cookie's token to give the browser."""
    token = secrets.token_urlsafe(COOKIE_BYTES)
    csrf = secrets.token_urlsafe(CSRF_BYTES)
    console.add_session(session, pseudonyms.of(PURPOSE, token), person_id, csrf, now)
    return token


async def official_of(
    session: AsyncSession, pseudonyms: Pseudonyms, request: web.Request, now: datetime
) -> Official | None:
    """The official signed in on this browser, if the session is live and they still hold
    a role (a role removed ends what the console shows them)."""
    token = request.cookies.get(COOKIE, "")
    if TOKEN.fullmatch(token) is None:
        return None
    found: ConsoleSession | None = await console.live_session(
        session,
        pseudonyms.every(PURPOSE, token),
        seen_after=now - SESSION_IDLE,
        created_after=now - SESSION_LIFETIME,
    )
    if found is None:
        return None
    person = await queries.person_by_id(session, found.person_id)
    if person is None:
        return None
    roles = await queries.official_places(session, person)
    staff = tuple(m.id for role, m in roles if role == "staff")
    deputy = tuple(m.id for role, m in roles if role == "deputy")
    if not staff and not deputy:
        return None
    stale = now - found.last_seen_at > TOUCH_AFTER
    return Official(found.session_key, person, found.csrf, staff, deputy, stale)


async def end_held(
    session: AsyncSession, pseudonyms: Pseudonyms, request: web.Request, now: datetime
) -> None:
    """End the session this browser's cookie holds, if any (a sign-in replaces it)."""
    token = request.cookies.get(COOKIE, "")
    if TOKEN.fullmatch(token) is not None:
        await console.end_sessions(session, pseudonyms.every(PURPOSE, token), now)


def csrf_ok(official: Official, given: object) -> bool:
    return isinstance(given, str) and same_secret(given, official.csrf)


def set_cookie(response: web.StreamResponse, token: str) -> None:
    # Secure: browsers keep it for https, and for http://localhost and 127.0.0.1, which
    # they count as secure (the tests' server); nothing else gets it over plain http.
    response.set_cookie(COOKIE, token, path=PATH, httponly=True, secure=True, samesite="Strict")


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path=PATH, httponly=True, secure=True, samesite="Strict")
