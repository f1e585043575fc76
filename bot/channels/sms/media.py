"""The images and places residents send by MMS or WhatsApp through Twilio.

Twilio gives each image as a URL on its API (MediaUrl0…), behind the account's credentials;
we fetch only from that API's address, so a webhook can never make us fetch anything else.
A WhatsApp location comes as Latitude and Longitude.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from bot.channels import pictures
from bot.runtime.config import Settings

MAX_MEDIA = 10  # Twilio's own limit on one message's media
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}


def media_of(form: Mapping[str, object], count: int) -> tuple[tuple[str, str], ...]:
    """(URL, content type) of each medium the form names."""
    found = []
    for index in range(min(count, MAX_MEDIA)):
        url = str(form.get(f"MediaUrl{index}") or "")
        if url:
            found.append((url, str(form.get(f"MediaContentType{index}") or "").lower()))
    return tuple(found)


def location_of(form: Mapping[str, object]) -> tuple[float, float] | None:
    """A WhatsApp location's coordinates, if it is one (and they are numbers)."""
    try:
        latitude = float(str(form.get("Latitude") or ""))
        longitude = float(str(form.get("Longitude") or ""))
    except ValueError:
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    return latitude, longitude


class TwilioMedia:
    """Fetches residents' images from Twilio with the account's credentials."""

    def __init__(self, settings: Settings) -> None:
        self.origin = _origin(settings.twilio_api_base_url)
        sid, token = settings.twilio_account_sid, settings.twilio_auth_token
        self.authorization = pictures.basic_authorization(sid, token) if sid and token else None
        self.timeout = pictures.FETCH_TIMEOUT
        self._http: aiohttp.ClientSession | None = None

    def fetches(self, media: tuple[tuple[str, str], ...]) -> list[pictures.Fetch]:
        return [self._fetch(url, content_type) for url, content_type in media]

    def _fetch(self, url: str, content_type: str) -> pictures.Fetch:
        async def fetch() -> bytes:
            if content_type and content_type not in IMAGE_TYPES:
                raise pictures.NotFetched("photo.wrong_kind")  # a video, a voice note, a PDF
            if self.authorization is None or _origin(url) != self.origin:
                raise pictures.NotFetched()  # only Twilio's own URLs, with our credentials
            if self._http is None:
                self._http = aiohttp.ClientSession()
            return await pictures.download(self._http, url, self.authorization, self.timeout)

        return fetch

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
