"""The aiohttp server: Telegram's and Twilio's webhooks, /healthz and /metrics
(ARCHITECTURE §5)."""

from __future__ import annotations

import hmac
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiDictProxy

from bot import metrics
from bot.sms.channel import INBOUND_PATH, STATUS_PATH, InboundMessage, SmsChannel

if TYPE_CHECKING:
    from aiohttp.web_request import FileField

    from bot.app import Runtime

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
XML = "application/xml"
MAX_BODY_BYTES = 1024 * 1024

RUNTIME = web.AppKey("runtime", "Runtime")
log = logging.getLogger(__name__)


def build(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[RUNTIME] = runtime
    app.router.add_post("/telegram/webhook", telegram_webhook)
    app.router.add_post(INBOUND_PATH, twilio_inbound)
    app.router.add_post(STATUS_PATH, twilio_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app


async def telegram_webhook(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    telegram = runtime.telegram
    if telegram is None:
        return web.json_response({"error": "the Telegram channel is off"}, status=404)
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), runtime.settings.webhook_secret().encode()):
        metrics.WEBHOOK_REJECTED.labels("telegram", "secret").inc()
        return web.json_response({"error": "wrong or missing secret token"}, status=401)
    try:
        data = json.loads(await request.read())
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("not an update")
        update = telegram.parse(data)
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        metrics.WEBHOOK_REJECTED.labels("telegram", "malformed").inc()
        return web.json_response({"error": "body is not a Telegram update"}, status=400)
    if not telegram.ready.is_set():
        return web.json_response({"error": "starting up"}, status=503)
    await telegram.process(update)
    return web.json_response({"ok": True})


async def _signed_twilio_form(
    request: web.Request, path: str
) -> tuple[SmsChannel, MultiDictProxy[str | FileField]] | web.Response:
    """The SMS channel and the posted form if Twilio signed it; else the refusal to send."""
    sms = request.app[RUNTIME].sms
    if sms is None:
        return web.Response(text="the SMS channel is off\n", status=404)
    form = await request.post()
    if not sms.signed(path, form, request.headers.get(TWILIO_SIGNATURE_HEADER)):
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
    except Exception:
        # Nothing was committed; the resident gets a short apology, never a trace.
        metrics.HANDLER_ERRORS.labels(message.channel).inc()
        log.exception("inbound %s failed", message.channel)
        answer = sms.apology(message)
    return web.Response(text=answer, content_type=XML)


async def twilio_status(request: web.Request) -> web.Response:
    checked = await _signed_twilio_form(request, STATUS_PATH)
    if isinstance(checked, web.Response):
        return checked
    sms, form = checked
    await sms.status(form)
    return web.Response(status=204)


async def healthz(request: web.Request) -> web.Response:
    if await request.app[RUNTIME].db.ping():
        return web.Response(text="ok\n")
    return web.Response(text="database unavailable\n", status=503)


async def metrics_page(request: web.Request) -> web.Response:
    body = await metrics.render(request.app[RUNTIME].db)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})
