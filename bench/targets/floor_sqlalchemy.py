"""The old floor, kept as a labelled extra ("floor-sqlalchemy"): a bare aiohttp webhook that,
per update, does one INSERT and commit through a SQLAlchemy session (on the same engine and
SQLite settings as ours) and one Bot API call. Between the floor (bench/targets/floor.py,
the raw driver) and ours, it shows what the ORM's session per update costs.

    python bench/targets/floor_sqlalchemy.py --port P --database-url URL --api-base URL --token T
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.targets.common import arguments, create_table
from storage.db import Database

DATABASE = web.AppKey("db", Database)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SEND_URL = web.AppKey("send_url", str)


async def webhook(request: web.Request) -> web.Response:
    update = json.loads(await request.read())
    message = update.get("message") or update.get("callback_query", {}).get("message") or {}
    chat = (message.get("chat") or update.get("callback_query", {}).get("from") or {})["id"]
    async with request.app[DATABASE].session() as session, session.begin():
        await session.execute(
            text("INSERT INTO bench_events (chat_id, body) VALUES (:chat, :body)"),
            {"chat": chat, "body": message.get("text", "")},
        )
    async with request.app[HTTP].post(
        request.app[SEND_URL], json={"chat_id": chat, "text": "ok"}
    ) as response:
        await response.read()
    return web.json_response({"ok": True})


async def main(args: Namespace) -> web.Application:
    db = Database(args.database_url)
    await create_table(db, "bench_events", "chat_id BIGINT, body TEXT")
    app = web.Application()
    app[DATABASE] = db
    app[HTTP] = aiohttp.ClientSession()
    app[SEND_URL] = f"{args.api_base}{args.token}/sendMessage"
    app.router.add_post("/telegram/webhook", webhook)
    return app


if __name__ == "__main__":
    given = arguments()
    web.run_app(main(given), host="127.0.0.1", port=given.port, print=None)
