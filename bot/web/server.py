"""The aiohttp server: every channel's webhooks and pages (each declares its own routes:
bot/channels/registry.py), /healthz and /metrics, open data and the public pages
(docs/architecture.md §5)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels import registry
from bot.runtime import metrics
from bot.web import http_input
from bot.web.accountability_page import AccountabilityPage
from bot.web.metrics_routes import MetricsRoutes
from bot.web.open311 import Open311
from bot.web.photo_links import PhotoRoutes
from bot.web.public import PublicPages
from bot.web.security_headers import security_headers
from bot.web.staff.routes import Console
from bot.web.stats import Stats

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

    from bot.runtime.served import Served

MAX_BODY_BYTES = 1024 * 1024

RUNTIME: web.AppKey[Served] = web.AppKey("runtime")


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
        metrics.HTTP_REQUEST_DURATION.labels(endpoint, f"{status // 100}xx").observe(
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
    for channel in registry.CHANNELS:  # each channel's webhooks and pages
        app.add_routes(channel.routes(runtime))
    app.router.add_get("/healthz", healthz)
    app.add_routes(MetricsRoutes(runtime).routes())  # protected: bot/web/metrics_routes.py
    app.add_routes(Open311(runtime).routes())  # open data: docs/open-data.md
    app.add_routes(Stats(runtime).routes())
    app.add_routes(PublicPages(runtime).routes())
    app.add_routes(AccountabilityPage(runtime).routes())  # answers on time, nationally
    app.add_routes(PhotoRoutes(runtime).routes())  # residents' photos: bot/web/photo_links.py
    app.add_routes(Console(runtime).routes())  # the staff console: bot/web/staff/
    return app


async def healthz(request: web.Request) -> web.Response:
    if await request.app[RUNTIME].db.ping():
        return web.Response(text="ok\n")
    return web.Response(text="database unavailable\n", status=503)
