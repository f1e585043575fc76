"""Sending SMS and WhatsApp messages: a small provider interface and its Twilio implementation.

The interface is one method, so that a local SMS gateway (two-way SMS with local numbers is
limited in Kyrgyzstan) can stand beside Twilio without touching the rest.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from bot.channels.outbox import Blocked, Refused, Transient, Verdict
from bot.channels.sms.twilio_api import ApiError, MessagesApi
from bot.runtime.config import Settings

log = logging.getLogger(__name__)

TWILIO_OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient": they texted STOP


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


class Unavailable(SendFailed):
    """The provider is busy (429), failing (5xx) or unreachable: worth trying again later."""


def sms_verdict(error: Exception) -> Verdict | None:
    """How the outbox reads a provider's error (bot/channels/outbox.py)."""
    if isinstance(error, RecipientOptedOut):
        return Blocked()
    if isinstance(error, Unavailable):
        return Transient()
    if isinstance(error, SendFailed):
        return Refused(str(error))
    return None


# Messages we start through Twilio, all phones together: Twilio queues what it is given and
# sends it at the sender's own rate; this keeps us under its API's concurrency limit (429s).
TWILIO_SEND_RATE = 10.0


class SmsProvider(Protocol):
    name: str  # kept with each message sent (OutboundMessage.provider)
    send_rate: float  # messages a second we start through it, all phones together
    needs_whatsapp_sender: bool  # carries WhatsApp, from TWILIO_WHATSAPP_FROM

    @property
    def sms_from(self) -> str | None:
        """The sender an SMS goes from (None: not set up)."""
        ...

    async def send(
        self,
        to: str,
        sender: str,
        body: str,
        status_callback: str | None,
        template: str | None = None,
    ) -> Sent:
        """Hand one message over, once; raise RecipientOptedOut, Unavailable (to be retried) or
        SendFailed (refused) if it cannot be. Retrying is the outbox's. `template`: an
        approved WhatsApp template whose one variable carries the body."""
        ...

    async def close(self) -> None: ...


class TwilioProvider:
    """Twilio's Messages API (bot/channels/sms/twilio_api.py)."""

    name = "twilio"
    send_rate = TWILIO_SEND_RATE
    needs_whatsapp_sender = True

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._api = MessagesApi(
            settings.twilio_api_base_url,
            settings.twilio_account_sid or "",
            settings.twilio_auth_token or "",
        )

    async def send(
        self,
        to: str,
        sender: str,
        body: str,
        status_callback: str | None,
        template: str | None = None,
    ) -> Sent:
        fields = {"To": to, "From": sender}
        if status_callback:
            fields["StatusCallback"] = status_callback
        if template:  # Twilio's Content API: the template's {{1}} is the text
            fields |= {"ContentSid": template, "ContentVariables": json.dumps({"1": body})}
        else:
            fields["Body"] = body
        try:
            message = await self._api.create(fields)
        except ApiError as error:
            if error.code == TWILIO_OPTED_OUT:
                raise RecipientOptedOut("recipient opted out", error.code) from error
            said = f"{error.status}, error {error.code}" if error.code else str(error.status)
            if error.status == 429 or error.status >= 500:
                raise Unavailable(f"Twilio answered {said}", error.code) from error
            raise SendFailed(f"Twilio refused: {said}", error.code) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Unavailable(f"Twilio unreachable ({type(error).__name__})") from error
        return Sent(provider_id=message.sid, status=message.status)

    @property
    def sms_from(self) -> str | None:
        return self._settings.twilio_from_number  # TWILIO_FROM_NUMBER

    async def close(self) -> None:
        await self._api.close()
