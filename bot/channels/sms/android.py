"""SMS Gateway for Android as the SMS provider: a local SIM in a cheap phone relays SMS (two-way
SMS with local Kyrgyz numbers is hard to get from international providers, and residents
texting a foreign number pay international rates).

Outbound goes through the gateway's API with its maintained client (`android-sms-gateway`),
to the phone on the local network or through its cloud relay (ANDROID_GATEWAY_URL). Inbound
comes to `POST /sms/android` as the app's webhooks, signed: `X-Signature` is the hex
HMAC-SHA256 of the raw body followed by `X-Timestamp`, under the signing key set in the app
(ANDROID_GATEWAY_SIGNING_KEY). A timestamp more than five minutes away is a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bot.channels.acks import reason
from bot.channels.sms.channel import InboundMessage, SmsChannel, e164, running
from bot.channels.sms.provider import SendFailed, Sent, Unavailable
from bot.runtime import metrics
from bot.runtime.config import Settings
from bot.web import http_input
from bot.web.http_input import same_secret
from handlers.log_fields import fields

if TYPE_CHECKING:
    from bot.runtime.served import Served

PATH = "/sms/android"
REPLAY_WINDOW = 300  # seconds either side of now
TIMESTAMP_DIGITS = 12  # seconds since 1970, for a few thousand years
# The gateway's message states, as the statuses Twilio's callbacks use (STATUS_RANK).
STATES = {
    "pending": "queued",
    "processed": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "failed": "failed",
    "cancelling": "failed",
    "cancelled": "canceled",
}
NO_MMS = "photo.no_mms"  # the app tells of an MMS but cannot hand its content over
EVENT_STATES = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}
PROVIDER = "android"  # SMS_PROVIDER's value for a phone

log = logging.getLogger(__name__)


class AndroidProvider:
    """The gateway's "send a message" API through its client library; one attempt a call,
    typed errors (the outbox retries)."""

    name = PROVIDER
    send_rate = 0.5  # one SIM: a message every two seconds keeps the carrier content
    sms_from = "SIM"  # the phone sends from its own SIM
    needs_whatsapp_sender = False  # no WhatsApp on a SIM

    def __init__(self, settings: Settings) -> None:
        # The client library is loaded only where a phone is the provider.
        from android_sms_gateway import ahttp, client

        assert settings.android_gateway_login and settings.android_gateway_password
        # On aiohttp, as the rest of the bot: left to itself the library picks httpx when it is
        # installed, whose connection errors `send` would not know as such. Given, it is ours
        # to open and close.
        self._http = ahttp.AiohttpAsyncHttpClient()
        self._client = client.AsyncAPIClient(
            settings.android_gateway_login,
            settings.android_gateway_password,
            base_url=settings.android_gateway_url.rstrip("/"),
            http_client=self._http,
        )
        self._open = False

    async def send(
        self,
        to: str,
        sender: str,
        body: str,
        status_callback: str | None,
        template: str | None = None,
    ) -> Sent:
        """`sender` and `status_callback` mean nothing here: the phone sends from its own SIM,
        and its webhooks carry the delivery events."""
        from android_sms_gateway import domain
        from android_sms_gateway.errors import APIError

        del sender, status_callback, template  # SMS only: no templates on a SIM
        if not self._open:
            await self._http.__aenter__()
            self._open = True
        message = domain.Message(
            phone_numbers=[to],
            text_message=domain.TextMessage(text=body),
            with_delivery_report=True,
        )
        try:
            state = await self._client.send(message, skip_phone_validation=True)
        except APIError as error:
            status = error.status_code
            said = f"the gateway answered {status}" if status else "the gateway failed"
            if status is None or status == 429 or status >= 500:
                raise Unavailable(said) from error
            raise SendFailed(said) from error
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise Unavailable(f"the gateway is unreachable ({type(error).__name__})") from error
        return Sent(provider_id=state.id, status=STATES.get(state.state.value.lower(), "queued"))

    async def close(self) -> None:
        if self._open:
            await self._http.__aexit__(None, None, None)
            self._open = False


class Refused(Exception):
    """A webhook not taken: forged, unsigned, replayed or malformed (the status says which)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


@dataclass(frozen=True)
class Event:
    event: str  # sms:received, sms:sent, sms:delivered, sms:failed, system:ping
    device: str
    payload: dict[str, Any]

    def delivery_id(self) -> str:
        """What tells a message from another: the app's messageId is made from the content
        and repeats, so the device, the sender and the moment received go with it."""
        fields = ("messageId", "phoneNumber", "receivedAt", "simNumber")
        mms = ("sender", "transactionId")  # an MMS's, when the app names them
        parts = (
            self.device,
            *(str(self.payload.get(k, "")) for k in fields),
            *(str(self.payload[k]) for k in mms if k in self.payload),
        )
        return "AG" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def received_message(event: Event) -> InboundMessage:
    """A received SMS, or an MMS — whose webhook carries only its metadata, never the
    picture: the resident is told that this number takes no pictures. A national number is
    read as Kyrgyzstan's; ValueError for a sender that is no phone number."""
    payload = event.payload
    mms = event.event == "mms:received"
    return InboundMessage(
        sid=event.delivery_id(),
        channel="sms",
        address=e164(str(payload.get("phoneNumber") or payload.get("sender") or ""), "KG"),
        body="" if mms else str(payload.get("message", "")),
        media_problem=NO_MMS if mms else None,
    )


def verify(
    settings: Settings, body: bytes, signature: str, timestamp: str, now: float | None = None
) -> Event:
    """The event, if the gateway signed it just now; else Refused."""
    key = settings.android_gateway_signing_key
    # ASCII only: compare_digest raises on other text (once a 500), and int() reads digits
    # of any script.
    signed = bool(signature) and signature.isascii() and timestamp.isascii()
    if not key or not signed or not timestamp.isdigit() or len(timestamp) > TIMESTAMP_DIGITS:
        raise Refused(403, "unsigned")
    expected = hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    if not same_secret(signature.lower(), expected):
        raise Refused(403, "bad signature")
    if abs((now or time.time()) - int(timestamp)) > REPLAY_WINDOW:
        raise Refused(403, "stale timestamp: a replay, or a clock far off")
    try:
        data = json.loads(body)
        event = Event(str(data["event"]), str(data.get("deviceId", "")), dict(data["payload"]))
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise Refused(400, f"malformed event ({type(error).__name__})") from None
    device, sim = settings.android_gateway_device, settings.android_gateway_sim
    if device and event.device != device:
        raise Refused(403, "an event from a device that is not ours")
    if sim is not None and event.payload.get("simNumber") not in (None, sim):
        raise Refused(403, "an event for a SIM that is not ours")
    return event


# --- the gateway's webhooks ----------------------------------------------------------------


def routes(runtime: Served) -> list[web.RouteDef]:
    async def inbound(request: web.Request) -> web.Response:
        return await android_inbound(runtime, request)

    return [web.post(PATH, inbound)]


async def android_inbound(runtime: Served, request: web.Request) -> web.Response:
    """SMS Gateway for Android's webhooks: a received SMS (handled like Twilio's, answered
    through the gateway after the commit), delivery events, pings. Signed or refused."""
    sms = running(runtime.channels)
    if sms is None or runtime.settings.sms_provider != PROVIDER:
        return web.Response(text="the Android gateway is not set up\n", status=404)
    headers = request.headers
    try:
        body = await http_input.body_of(request)
    except http_input.Unreadable as error:
        metrics.WEBHOOK_REJECTED.labels("android", "malformed").inc()
        return web.Response(text=f"{error}\n", status=400)
    try:
        event = verify(
            runtime.settings, body, headers.get("X-Signature", ""), headers.get("X-Timestamp", "")
        )
    except Refused as refused:
        metrics.WEBHOOK_REJECTED.labels(
            "android", "malformed" if refused.status == 400 else "signature"
        ).inc()
        return web.Response(text=f"{refused}\n", status=refused.status)
    metrics.GATEWAY_CONTACT.set_to_current_time()
    if event.event in ("sms:received", "mms:received"):
        return await _received(sms, event)
    if event.event in EVENT_STATES:
        sid = str(event.payload.get("messageId", ""))
        await sms.record_status(PROVIDER, sid, EVENT_STATES[event.event])
    return web.Response(status=204)


async def _received(sms: SmsChannel, event: Event) -> web.Response:
    """A received SMS or MMS, handled like Twilio's and answered after the commit."""
    try:
        message = received_message(event)
    except ValueError as error:
        metrics.WEBHOOK_REJECTED.labels("android", "malformed").inc()
        return web.Response(text=f"{error}\n", status=400)
    try:
        await sms.receive_relayed(message)
    except Exception as error:  # not kept: 5xx, and the app sends it again (its own retries)
        metrics.HANDLER_ERRORS.labels("sms").inc()
        metrics.NOT_KEPT.labels("sms", reason(error)).inc()
        log.exception(
            "inbound from the Android gateway failed (%s)",
            reason(error),
            extra=fields("inbound", channel="sms", outcome=f"not_kept_{reason(error)}"),
        )
        return web.Response(text="not handled; send it again\n", status=503)
    return web.Response(status=204)
