"""Fetching the images residents send, for any channel, and making them safe (bot/images.py).

A channel gives one fetch per image; what comes back is the pictures that could be taken and
the reason the first one that could not was refused — never an exception, so that the text
that came with them is always handled.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot import images
from handlers.types import Picture

Fetch = Callable[[], Awaitable[bytes]]

FETCH_TIMEOUT = 20.0  # seconds for one image, connection to last byte
MAX_REDIRECTS = 3  # Twilio's media URL redirects once, to its file store
REDIRECTS = {301, 302, 303, 307, 308}

log = logging.getLogger(__name__)


class NotFetched(Exception):
    """An image could not be fetched; `key` names the message that says why."""

    def __init__(self, key: str = "photo.unreachable") -> None:
        super().__init__(key)
        self.key = key


async def gather(fetches: Sequence[Fetch]) -> tuple[tuple[Picture, ...], str | None]:
    """Each image fetched and cleaned in turn: the ones taken, and why one was not."""
    pictures: list[Picture] = []
    problem: str | None = None
    for fetch in fetches:
        try:
            data = await fetch()
            picture = await asyncio.to_thread(images.clean, data)
        except (NotFetched, images.ImageRefused) as refused:
            log.info("an image was not taken: %s", refused.key)
            problem = problem or refused.key
            continue
        if picture.key not in {p.key for p in pictures}:
            pictures.append(picture)
    return tuple(pictures), problem


async def download(
    session: aiohttp.ClientSession,
    url: str,
    authorization: str | None = None,
    seconds: float = FETCH_TIMEOUT,
) -> bytes:
    """The body at `url`, at most images.MAX_BYTES of it (read in pieces, so that a huge
    file is refused without being held); NotFetched otherwise. Redirects are followed by
    hand so that `authorization` goes only to the URL's own origin (Twilio sends its media
    on to a file store, which must not see our credentials)."""
    timeout = aiohttp.ClientTimeout(total=seconds)
    origin = urlsplit(url)[:2]
    try:
        async with asyncio.timeout(seconds):
            for _ in range(MAX_REDIRECTS + 1):
                same_origin = urlsplit(url)[:2] == origin
                headers = {"Authorization": authorization} if authorization and same_origin else {}
                async with session.get(
                    url, headers=headers, timeout=timeout, allow_redirects=False
                ) as response:
                    if response.status in REDIRECTS and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    return await _body(response)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.info("fetching an image failed: %s", type(error).__name__)
        raise NotFetched() from error
    raise NotFetched()  # redirected too often


async def _body(response: aiohttp.ClientResponse) -> bytes:
    if response.status != 200:
        log.info("fetching an image answered %s", response.status)
        raise NotFetched()
    if (response.content_length or 0) > images.MAX_BYTES:
        raise NotFetched("photo.too_big")
    body = bytearray()
    async for piece in response.content.iter_chunked(64 * 1024):
        body += piece
        if len(body) > images.MAX_BYTES:
            raise NotFetched("photo.too_big")
    return bytes(body)


def basic_authorization(login: str, password: str) -> str:
    """The Authorization header's value for HTTP basic authentication."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
