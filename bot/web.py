"""The aiohttp server: Telegram's webhook, /healthz and /metrics (ARCHITECTURE §5)."""

from __future__ import annotations

import hmac
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot import metrics

if TYPE_CHECKING:
    from bot.app import Runtime

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024

RUNTIME = web.AppKey("runtime", "Runtime")
log = logging.getLogger(__name__)


def build(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[RUNTIME] = runtime
    app.router.add_post("/telegram/webhook", telegram_webhook)
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


async def healthz(request: web.Request) -> web.Response:
    if await request.app[RUNTIME].db.ping():
        return web.Response(text="ok\n")
    return web.Response(text="database unavailable\n", status=503)


async def metrics_page(request: web.Request) -> web.Response:
    body = await metrics.render(request.app[RUNTIME].db)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})
