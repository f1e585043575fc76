"""Fetching the images residents send, for any channel, and making them safe
(bot/channels/images.py).

A channel gives one fetch per image; what comes back is the pictures that could be taken and
the reason the first one that could not was refused — never an exception, so that the text
that came with them is always handled. Nothing is fetched for a sender whose pictures the
handlers would not take (handlers/picture_gate.py): they get the reason instead.

A picture held takes memory: up to MAX_BYTES fetched, then tens of MB while it is decoded
(bot/channels/images.py). So at most PICTURES_AT_ONCE are fetched and decoded at a time in the
process, whichever chats send them: eight large images at once cost what two do, and the
others wait their turn before fetching, holding nothing. The decoding runs in threads of
its own, so that it takes none of the default pool's (posters, charts) and its memory comes
back to the same two malloc arenas (with the default pool's threads, the peak under eight
large images at once varied by 50 MB from run to run: bench/images.py).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.channels import images
from handlers import picture_gate
from handlers.media import PHOTO_LIMIT
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound, Picture
from storage.db import Database

Fetch = Callable[[], Awaitable[bytes]]

FETCH_TIMEOUT = 20.0  # seconds for one image, connection to last byte
MAX_REDIRECTS = 3  # Twilio's media URL redirects once, to its file store
REDIRECTS = {301, 302, 303, 307, 308}
BEYOND_LIMIT = "photo.first_ones"  # more pictures came than a wish takes
PICTURES_AT_ONCE = 2  # fetched and decoded at a time: one per CPU of a small machine
DECODERS = ThreadPoolExecutor(PICTURES_AT_ONCE, thread_name_prefix="image")

log = logging.getLogger(__name__)


class NotFetched(Exception):
    """An image could not be fetched; `key` names the message that says why."""

    def __init__(self, key: str = "photo.unreachable") -> None:
        super().__init__(key)
        self.key = key


async def fetch_if_taken(
    db: Database, pseudonyms: Pseudonyms, inbound: Inbound, fetches: Sequence[Fetch]
) -> tuple[tuple[Picture, ...], str | None]:
    """The action's pictures, as `gather` gives them, if the handlers would take them; else
    none, and why (a look at the sender's rows first, before anything is fetched)."""
    withheld = await picture_gate.look(db, pseudonyms, inbound)
    if withheld is not None:
        log.info("images not fetched: %s", withheld)
        return (), withheld
    return await gather(fetches)


async def gather(fetches: Sequence[Fetch]) -> tuple[tuple[Picture, ...], str | None]:
    """Each image fetched and cleaned in turn (the process's turn: see above), until a wish's
    worth is taken (an MMS may carry ten: the rest would only be held, then dropped): the
    ones taken, and why one was not."""
    pictures: list[Picture] = []
    problem: str | None = None
    for number, fetch in enumerate(fetches):
        if len(pictures) == PHOTO_LIMIT:
            log.info("%d images not fetched: a wish takes %d", len(fetches) - number, PHOTO_LIMIT)
            problem = problem or BEYOND_LIMIT
            break
        try:
            async with _turns():
                picture = await decode(await fetch())
        except (NotFetched, images.ImageRefused) as refused:
            log.info("an image was not taken: %s", refused.key)
            problem = problem or refused.key
            continue
        if picture.key not in {p.key for p in pictures}:
            pictures.append(picture)
    return tuple(pictures), problem


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _turns() -> asyncio.Semaphore:
    """The process's turns for pictures (a semaphore belongs to one event loop: one each)."""
    loop = asyncio.get_running_loop()
    turns = _TURNS.get(loop)
    if turns is None:
        turns = _TURNS[loop] = asyncio.Semaphore(PICTURES_AT_ONCE)
    return turns


async def decode(data: bytes) -> Picture:
    """images.clean, in one of DECODERS' threads."""
    return await asyncio.get_running_loop().run_in_executor(DECODERS, images.clean, data)


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
