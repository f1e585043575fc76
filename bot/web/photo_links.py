"""Residents' photos over HTTP, at /media/KEY.

A photo is public once staff have made its wish's photos public (and the wish is not
hidden): the municipality's page and Open311's media_url link it. Before that only a link
signed for staff opens it — the staff table's links, which expire after LINK_DAYS.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web.http_input import same_secret
from handlers.pseudonyms import Pseudonyms
from storage import queries
from storage.files import valid_key
from storage.models import Wish

if TYPE_CHECKING:
    from bot.runtime.config import Settings
    from bot.runtime.served import Served

PATH = "/media/"
LINK_DAYS = 30
PURPOSE = "media"  # of the keyed hash that signs a staff link
CACHE = "public, max-age=86400"  # a file never changes: its name is its content's hash


def path(key: str) -> str:
    return PATH + key


def signed_url(settings: Settings, key: str, now: float | None = None) -> str:
    """A staff member's link to a photo, public or not, valid for LINK_DAYS."""
    until = int(now if now is not None else time.time()) + LINK_DAYS * 86400
    signature = _keys(settings).of(PURPOSE, key, str(until))
    return _absolute(settings, f"{path(key)}?until={until}&sig={signature}")


def public_url(settings: Settings, key: str) -> str:
    """Open311's media_url: absolute at PUBLIC_BASE_URL; without it, only the path. Never
    from the request's Host, which anyone writes — and Open311's answers are cached."""
    return settings.public_url(path(key)) or path(key)


async def public_photos(session: AsyncSession, wishes: Iterable[Wish]) -> dict[int, list[str]]:
    """The photo keys of the wishes whose photos staff made public (and did not hide)."""
    shown = [w.id for w in wishes if w.media_public and not w.hidden]
    return await queries.photo_keys(session, shown)


async def staff_links(
    session: AsyncSession, settings: Settings, wishes: Iterable[Wish]
) -> dict[int, list[str]]:
    """Each wish's photos as signed links, for the staff table."""
    keys = await queries.photo_keys(session, [w.id for w in wishes])
    return {wish: [signed_url(settings, key) for key in each] for wish, each in keys.items()}


class PhotoRoutes:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH + "{key}", self.photo)]

    async def photo(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        if not valid_key(key) or not await self._allowed(request, key):
            raise web.HTTPNotFound()  # the same for a secret photo as for none
        data = await self.runtime.files.get(key)
        if data is None:
            raise web.HTTPNotFound()
        signed = "sig" in request.query
        headers = {
            "Cache-Control": "private, no-store" if signed else CACHE,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
        }
        return web.Response(body=data, content_type="image/jpeg", headers=headers)

    async def _allowed(self, request: web.Request, key: str) -> bool:
        if "sig" in request.query:
            return self._signed(request, key)
        async with self.runtime.db.session() as session:
            return await queries.public_photo(session, key)

    def _signed(self, request: web.Request, key: str) -> bool:
        try:
            until = int(request.query.get("until", ""))
        except ValueError:
            return False
        if until < time.time():
            return False
        given = request.query.get("sig", "")
        expected = _keys(self.runtime.settings).every(PURPOSE, key, str(until))
        return any(same_secret(given, signature) for signature in expected)


def _keys(settings: Settings) -> Pseudonyms:
    """Keyed hashes under SECRET_KEY; a link made before a key rotation still opens."""
    return Pseudonyms.from_keys(settings.secret_keys())


def _absolute(settings: Settings, relative: str) -> str:
    return settings.public_url(relative) or f"http://{settings.host}:{settings.port}{relative}"
