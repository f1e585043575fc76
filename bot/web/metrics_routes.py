"""`GET /metrics`, for the operator's Prometheus and nobody else (docs/operations.md).

- METRICS_PORT set: served on METRICS_HOST:METRICS_PORT only (a site of its own, started
  by the runtime), and a 404 on the main port.
- METRICS_TOKEN set: only with `Authorization: Bearer METRICS_TOKEN` (401 otherwise).
- Neither: only to a loopback peer that no proxy forwarded (`make run` on one's own
  machine); a 404 to anyone else. A proxy on the same machine is told apart by its
  forwarding headers or by being in TRUSTED_PROXIES.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.runtime import metrics
from bot.web.clients import Clients, is_loopback
from bot.web.http_input import same_secret
from bot.web.security_headers import security_headers

if TYPE_CHECKING:
    from bot.runtime.served import Served

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4"


class MetricsRoutes:
    def __init__(self, runtime: Served, own_site: bool = False) -> None:
        self.runtime = runtime
        self.own_site = own_site  # the METRICS_PORT site, not the main port
        self.clients = Clients(runtime.settings.trusted_proxies)
        self.totals = metrics.Totals()

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.page)]

    async def page(self, request: web.Request) -> web.Response:
        settings = self.runtime.settings
        if settings.metrics_port is not None and not self.own_site:
            raise web.HTTPNotFound()
        if settings.metrics_token is not None:
            if not _bearer(request, settings.metrics_token):
                raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"})
        elif not self.own_site and not self._local(request):
            raise web.HTTPNotFound()
        body = await metrics.render(self.runtime.db, self.totals)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def _local(self, request: web.Request) -> bool:
        return is_loopback(request.remote or "") and not self.clients.forwarded(request)


def site(runtime: Served) -> web.Application:
    """The application served on METRICS_HOST:METRICS_PORT."""
    app = web.Application(middlewares=[security_headers])
    app.add_routes(MetricsRoutes(runtime, own_site=True).routes())
    return app


def _bearer(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(given.strip(), token)
