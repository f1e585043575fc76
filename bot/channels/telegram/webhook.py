"""Telegram's webhook, `POST /telegram/webhook`: the secret token checked, the update read
and handled, and 200 only once what it changed is committed (docs/architecture.md §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from bot.channels.acks import NotKept
from bot.channels.telegram.live import running
from bot.channels.telegram.updates import read_update
from bot.runtime import metrics
from bot.web import http_input

if TYPE_CHECKING:
    from bot.runtime.served import Served

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def routes(runtime: Served) -> list[web.RouteDef]:
    async def webhook(request: web.Request) -> web.Response:
        return await telegram_webhook(runtime, request)

    return [web.post(PATH, webhook)]


async def telegram_webhook(runtime: Served, request: web.Request) -> web.Response:
    telegram = running(runtime.channels)
    if telegram is None:
        return web.json_response({"error": "the Telegram channel is off"}, status=404)
    given = request.headers.get(SECRET_HEADER, "")
    if not any(http_input.same_secret(given, secret) for secret in telegram.webhook_secrets):
        metrics.WEBHOOK_REJECTED.labels("telegram", "secret").inc()
        return web.json_response({"error": "wrong or missing secret token"}, status=401)
    try:
        data = orjson.loads(await http_input.body_of(request))
        if not isinstance(data, dict):
            raise ValueError("not an update")
        # Only the fields we use are read, none by recursion: nesting elsewhere costs nothing
        # (orjson refuses more than 1,024 levels, as bad JSON).
        update = read_update(data)
    except ValueError:  # orjson's JSONDecodeError (bad JSON, bad UTF-8) is one
        metrics.WEBHOOK_REJECTED.labels("telegram", "malformed").inc()
        return web.json_response({"error": "body is not a Telegram update"}, status=400)
    if not telegram.ready.is_set():
        return web.json_response({"error": "starting up"}, status=503)
    try:
        reply = await telegram.process(update, by_webhook=True)
    except NotKept:
        # Nothing was committed and nothing sent: Telegram delivers the update again.
        return web.json_response({"error": "not handled; send it again"}, status=503)
    # A Bot API call in the response is made by Telegram (its "method" field); else a body
    # Telegram ignores.
    return web.json_response(reply or {"ok": True}, dumps=_json_text)


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()
