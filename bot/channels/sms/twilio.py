"""Twilio's webhooks: `POST /sms/twilio` (an SMS or WhatsApp message, answered with TwiML)
and `POST /sms/twilio/status` (a delivery status), both signed by Twilio or refused."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiDictProxy

from bot.channels.acks import reason
from bot.channels.sms.channel import (
    INBOUND_PATH,
    STATUS_PATH,
    InboundMessage,
    SmsChannel,
    running,
)
from bot.runtime import metrics
from bot.web import http_input
from handlers.log_fields import fields

if TYPE_CHECKING:
    from bot.runtime.served import Served

SIGNATURE_HEADER = "X-Twilio-Signature"
XML = "application/xml"
# A status callback's fields as Twilio writes them; anything else never came from Twilio, and
# would reach a query (a NUL, which PostgreSQL refuses) or an integer column (a huge code).
STATUS_FIELDS = {
    "MessageSid": re.compile(r"[A-Za-z0-9]{0,64}"),
    "MessageStatus": re.compile(r"[a-z_-]{0,32}"),
    "ErrorCode": re.compile(r"[0-9]{0,9}"),
}

log = logging.getLogger(__name__)


def routes(runtime: Served) -> list[web.RouteDef]:
    async def inbound(request: web.Request) -> web.Response:
        return await twilio_inbound(runtime, request)

    async def status(request: web.Request) -> web.Response:
        return await twilio_status(runtime, request)

    return [web.post(INBOUND_PATH, inbound), web.post(STATUS_PATH, status)]


async def _signed_twilio_form(
    runtime: Served, request: web.Request, path: str
) -> tuple[SmsChannel, MultiDictProxy[str]] | web.Response:
    """The SMS channel and the posted form if Twilio signed it; else the refusal to send:
    403 unsigned (the body unread), 400 a body that is not a UTF-8 form, 403 a signature
    that does not match."""
    sms = running(runtime.channels)
    if sms is None:
        return web.Response(text="the SMS channel is off\n", status=404)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        metrics.WEBHOOK_REJECTED.labels("twilio", "signature").inc()
        return web.Response(text="invalid signature\n", status=403)
    try:
        if request.content_type != http_input.URLENCODED:
            raise http_input.Unreadable(f"not {http_input.URLENCODED}")
        form = http_input.urlencoded(await http_input.body_of(request), request.charset)
    except http_input.Unreadable as error:
        metrics.WEBHOOK_REJECTED.labels("twilio", "malformed").inc()
        return web.Response(text=f"{error}\n", status=400)
    if not sms.signed(path, form, signature):
        metrics.WEBHOOK_REJECTED.labels("twilio", "signature").inc()
        return web.Response(text="invalid signature\n", status=403)
    return sms, form


async def twilio_inbound(runtime: Served, request: web.Request) -> web.Response:
    checked = await _signed_twilio_form(runtime, request, INBOUND_PATH)
    if isinstance(checked, web.Response):
        return checked
    sms, form = checked
    try:
        message = InboundMessage.from_form(form)
    except ValueError as error:
        metrics.WEBHOOK_REJECTED.labels("twilio", "malformed").inc()
        return web.Response(text=f"{error}\n", status=400)
    try:
        answer = await sms.receive(message)
    except Exception as error:
        # Nothing was committed: no answer, and a 5xx so that Twilio sends it again (with
        # the retry overrides on the webhook URL, see docs/channels.md). A fault that repeats is
        # apologised for instead, never with a trace.
        metrics.HANDLER_ERRORS.labels(message.channel).inc()
        metrics.NOT_KEPT.labels(message.channel, reason(error)).inc()
        log.exception(
            "inbound %s failed (%s)",
            message.channel,
            reason(error),
            extra=fields("inbound", channel=message.channel, outcome=f"not_kept_{reason(error)}"),
        )
        if not sms.failures.not_kept(message.sid, error).give_up:
            return web.Response(text="not handled; send it again\n", status=503)
        answer = sms.apology(message)
    return web.Response(text=answer, content_type=XML)


async def twilio_status(runtime: Served, request: web.Request) -> web.Response:
    checked = await _signed_twilio_form(runtime, request, STATUS_PATH)
    if isinstance(checked, web.Response):
        return checked
    sms, form = checked
    odd = [name for name, shape in STATUS_FIELDS.items() if not shape.fullmatch(form.get(name, ""))]
    if odd:
        metrics.WEBHOOK_REJECTED.labels("twilio", "malformed").inc()
        return web.Response(text=f"not a status: {odd[0]}\n", status=400)
    await sms.status(form)
    return web.Response(status=204)
