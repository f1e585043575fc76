"""The aiohttp server: Telegram's and Twilio's webhooks, /healthz and /metrics
(docs/architecture.md §5)."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiDictProxy

from bot.channels.acks import NotKept, reason
from bot.channels.sms import android
from bot.channels.sms.channel import INBOUND_PATH, STATUS_PATH, InboundMessage, SmsChannel
from bot.channels.webchat.channel import WebChat
from bot.runtime import metrics
from bot.web import http_input
from bot.web.metrics_routes import MetricsRoutes
from bot.web.open311 import Open311
from bot.web.photo_links import PhotoRoutes
from bot.web.public import PublicPages
from bot.web.security_headers import security_headers
from bot.web.stats import Stats

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

    from bot.runtime.served import Served

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
XML = "application/xml"
MAX_BODY_BYTES = 1024 * 1024

TELEGRAM_PATH = "/telegram/webhook"
# A status callback's fields as Twilio writes them; anything else never came from Twilio, and
# would reach a query (a NUL, which PostgreSQL refuses) or an integer column (a huge code).
STATUS_FIELDS = {
    "MessageSid": re.compile(r"[A-Za-z0-9]{0,64}"),
    "MessageStatus": re.compile(r"[a-z_-]{0,32}"),
    "ErrorCode": re.compile(r"[0-9]{0,9}"),
}

RUNTIME: web.AppKey[Served] = web.AppKey("runtime")
log = logging.getLogger(__name__)


MAX_JSON_DEPTH = 32  # a Telegram update nests about six deep


@web.middleware
async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency per endpoint and status class, for /metrics."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        resource = request.match_info.route.resource
        endpoint = resource.canonical if resource is not None else "other"
        metrics.REQUEST_SECONDS.labels(endpoint, f"{status // 100}xx").observe(
            time.perf_counter() - started
        )


def build(runtime: Served) -> web.Application:
    http_input.quiet_bad_requests()
    middlewares = [
        timed,
        security_headers,  # on every answer, the refusals at the door included
        http_input.text_addresses,
    ]
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    app[RUNTIME] = runtime
    app.router.add_post(TELEGRAM_PATH, telegram_webhook)
    app.router.add_post(INBOUND_PATH, twilio_inbound)
    app.router.add_post(STATUS_PATH, twilio_status)
    app.router.add_post(android.PATH, android_inbound)
    app.router.add_get("/healthz", healthz)
    app.add_routes(MetricsRoutes(runtime).routes())  # protected: bot/web/metrics_routes.py
    app.add_routes(Open311(runtime).routes())  # open data: docs/open-data.md
    app.add_routes(Stats(runtime).routes())
    app.add_routes(PublicPages(runtime).routes())
    app.add_routes(WebChat(runtime).routes())
    app.add_routes(PhotoRoutes(runtime).routes())  # residents' photos: bot/web/photo_links.py
    return app


async def telegram_webhook(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    telegram = runtime.telegram
    if telegram is None:
        return web.json_response({"error": "the Telegram channel is off"}, status=404)
    given = request.headers.get(SECRET_HEADER, "")
    accepted = runtime.settings.webhook_secrets()
    if not any(http_input.same_secret(given, secret) for secret in accepted):
        metrics.WEBHOOK_REJECTED.labels("telegram", "secret").inc()
        return web.json_response({"error": "wrong or missing secret token"}, status=401)
    try:
        data = json.loads(await http_input.body_of(request))
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("not an update")
        if depth(data) > MAX_JSON_DEPTH:
            raise ValueError("nested too deep")
        update = telegram.parse(data)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        metrics.WEBHOOK_REJECTED.labels("telegram", "malformed").inc()
        return web.json_response({"error": "body is not a Telegram update"}, status=400)
    if not telegram.ready.is_set():
        return web.json_response({"error": "starting up"}, status=503)
    try:
        await telegram.process(update)
    except NotKept:
        # Nothing was committed and nothing sent: Telegram delivers the update again.
        return web.json_response({"error": "not handled; send it again"}, status=503)
    return web.json_response({"ok": True})


def depth(value: object) -> int:
    """How deep JSON nests, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


async def _signed_twilio_form(
    request: web.Request, path: str
) -> tuple[SmsChannel, MultiDictProxy[str]] | web.Response:
    """The SMS channel and the posted form if Twilio signed it; else the refusal to send:
    403 unsigned (the body unread), 400 a body that is not a UTF-8 form, 403 a signature
    that does not match."""
    sms = request.app[RUNTIME].sms
    if sms is None:
        return web.Response(text="the SMS channel is off\n", status=404)
    signature = request.headers.get(TWILIO_SIGNATURE_HEADER)
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


async def twilio_inbound(request: web.Request) -> web.Response:
    checked = await _signed_twilio_form(request, INBOUND_PATH)
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
        # the retry overrides on the webhook URL, see the README). A fault that repeats is
        # apologised for instead, never with a trace.
        metrics.HANDLER_ERRORS.labels(message.channel).inc()
        metrics.NOT_KEPT.labels(message.channel, reason(error)).inc()
        log.exception("inbound %s failed (%s)", message.channel, reason(error))
        if not sms.failures.not_kept(message.sid, error).give_up:
            return web.Response(text="not handled; send it again\n", status=503)
        answer = sms.apology(message)
    return web.Response(text=answer, content_type=XML)


async def twilio_status(request: web.Request) -> web.Response:
    checked = await _signed_twilio_form(request, STATUS_PATH)
    if isinstance(checked, web.Response):
        return checked
    sms, form = checked
    odd = [name for name, shape in STATUS_FIELDS.items() if not shape.fullmatch(form.get(name, ""))]
    if odd:
        metrics.WEBHOOK_REJECTED.labels("twilio", "malformed").inc()
        return web.Response(text=f"not a status: {odd[0]}\n", status=400)
    await sms.status(form)
    return web.Response(status=204)


async def android_inbound(request: web.Request) -> web.Response:
    """SMS Gateway for Android's webhooks: a received SMS (handled like Twilio's, answered
    through the gateway after the commit), delivery events, pings. Signed or refused."""
    runtime = request.app[RUNTIME]
    sms = runtime.sms
    if sms is None or runtime.settings.sms_provider != "android":
        return web.Response(text="the Android gateway is not set up\n", status=404)
    headers = request.headers
    try:
        body = await http_input.body_of(request)
    except http_input.Unreadable as error:
        metrics.WEBHOOK_REJECTED.labels("android", "malformed").inc()
        return web.Response(text=f"{error}\n", status=400)
    try:
        event = android.verify(
            runtime.settings, body, headers.get("X-Signature", ""), headers.get("X-Timestamp", "")
        )
    except android.Refused as refused:
        metrics.WEBHOOK_REJECTED.labels(
            "android", "malformed" if refused.status == 400 else "signature"
        ).inc()
        return web.Response(text=f"{refused}\n", status=refused.status)
    metrics.GATEWAY_CONTACT.set_to_current_time()
    if event.event in ("sms:received", "mms:received"):
        return await _android_received(sms, event)
    if event.event in android.EVENT_STATES:
        sid = str(event.payload.get("messageId", ""))
        await sms.record_status("android", sid, android.EVENT_STATES[event.event])
    return web.Response(status=204)


async def _android_received(sms: SmsChannel, event: android.Event) -> web.Response:
    """An SMS or an MMS (bot/channels/sms/android.py reads which), handled and answered."""
    try:
        message = android.received_message(event)
    except ValueError as error:
        metrics.WEBHOOK_REJECTED.labels("android", "malformed").inc()
        return web.Response(text=f"{error}\n", status=400)
    try:
        await sms.receive_relayed(message)
    except Exception as error:  # not kept: 5xx, and the app sends it again (its own retries)
        metrics.HANDLER_ERRORS.labels("sms").inc()
        metrics.NOT_KEPT.labels("sms", reason(error)).inc()
        log.exception("inbound from the Android gateway failed (%s)", reason(error))
        return web.Response(text="not handled; send it again\n", status=503)
    return web.Response(status=204)


async def healthz(request: web.Request) -> web.Response:
    if await request.app[RUNTIME].db.ping():
        return web.Response(text="ok\n")
    return web.Response(text="database unavailable\n", status=503)
