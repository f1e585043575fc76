"""Fetching the images residents send, for any channel, and making them safe (bot/images.py).

A channel gives one fetch per image; what comes back is the pictures that could be taken and
the reason the first one that could not was refused — never an exception, so that the text
that came with them is always handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from bot import images
from handlers.types import Picture

Fetch = Callable[[], Awaitable[bytes]]

FETCH_TIMEOUT = 20.0  # seconds for one image, connection to last byte
MAX_REDIRECTS = 3  # Twilio's media URL redirects once, to its file store

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
    session: aiohttp.ClientSession, url: str, auth: aiohttp.BasicAuth | None = None
) -> bytes:
    """The body at `url`, at most images.MAX_BYTES of it (read in pieces, so that a huge
    file is refused without being held); NotFetched otherwise."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    try:
        async with session.get(
            url, auth=auth, timeout=timeout, max_redirects=MAX_REDIRECTS
        ) as response:
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
    except (aiohttp.ClientError, TimeoutError) as error:
        log.info("fetching an image failed: %s", type(error).__name__)
        raise NotFetched() from error
