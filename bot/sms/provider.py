"""Sending SMS and WhatsApp messages: a small provider interface and its Twilio implementation.

The interface is one method, so that a local SMS gateway (two-way SMS with local numbers is
limited in Kyrgyzstan) can stand beside Twilio without touching the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.config import Settings

log = logging.getLogger(__name__)

TWILIO_OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient": they texted STOP
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds before each retry of a 429 or 5xx


@dataclass(frozen=True)
class Sent:
    provider_id: str
    status: str


class SendFailed(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RecipientOptedOut(SendFailed):
    """The recipient asked the carrier to stop messages from us."""


class SmsProvider(Protocol):
    name: str

    async def send(self, to: str, sender: str, body: str, status_callback: str | None) -> Sent:
        """Hand one message over; raise RecipientOptedOut or SendFailed if it cannot be."""
        ...

    async def close(self) -> None: ...


class TwilioProvider:
    """Twilio's Messages API through twilio's own async client, retrying 429 and 5xx."""

    name = "twilio"

    def __init__(self, settings: Settings, retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
        self._http = AsyncTwilioHttpClient()
        self._client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=self._http
        )
        # TWILIO_API_BASE_URL: requests go to {base}/2010-04-01/Accounts/{sid}/Messages.json
        self._client.api.base_url = settings.twilio_api_base_url
        self._retry_delays = tuple(retry_delays)

    async def send(self, to: str, sender: str, body: str, status_callback: str | None) -> Sent:
        extra = {"status_callback": status_callback} if status_callback else {}
        for attempt, delay in enumerate((0.0, *self._retry_delays)):
            if delay:
                await asyncio.sleep(delay)
            try:
                message = await self._client.messages.create_async(
                    to=to, from_=sender, body=body, **extra
                )
                return Sent(provider_id=str(message.sid), status=str(message.status))
            except TwilioRestException as error:
                if error.code == TWILIO_OPTED_OUT:
                    raise RecipientOptedOut("recipient opted out", error.code) from error
                if error.status != 429 and error.status < 500:
                    raise SendFailed(f"Twilio refused: {error.status}", error.code) from error
                log.warning("Twilio answered %s (attempt %d)", error.status, attempt + 1)
            except (aiohttp.ClientError, TimeoutError) as error:
                log.warning(
                    "Twilio unreachable (%s, attempt %d)", type(error).__name__, attempt + 1
                )
        raise SendFailed("Twilio kept failing; gave up")

    async def close(self) -> None:
        await self._http.close()
