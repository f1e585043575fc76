"""What the comparison targets share: their command line, and the table they store into;
for the floors, the event loop and the Bot API connections ours uses."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop
from aiohttp import web
from sqlalchemy import text

from bot.channels.telegram.bot_api import JSON_BODY
from bot.channels.telegram.connections import Connections
from storage.db import Database


def arguments(*extra: str) -> argparse.Namespace:
    """--port, --database-url, --api-base (the fake Bot API's base), --token, and `extra`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    for name in ("--database-url", "--api-base", "--token", *extra):
        parser.add_argument(name, required=True)
    return parser.parse_args()


async def create_table(db: Database, name: str, columns: str) -> None:
    """`name` with an id that counts up on SQLite and PostgreSQL alike, and `columns`."""
    key = "INTEGER PRIMARY KEY" if db.engine.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    async with db.session() as session, session.begin():
        await session.execute(text(f"CREATE TABLE IF NOT EXISTS {name} (id {key}, {columns})"))


async def kept_as_is(_connection: object) -> None:
    """asyncpg's pool's `reset`: none. By default it resets each connection it takes back with
    a round trip of its own (RESET ALL, advisory locks let go…), which our pool does not
    make; the floors leave nothing on a connection to reset."""


def serve(app: Awaitable[web.Application], port: int) -> None:
    """A floor's server, on libuv's event loop as `civicbot serve` runs."""
    web.run_app(
        app, host="127.0.0.1", port=port, print=None, access_log=None, loop=uvloop.new_event_loop()
    )


class BotApiCalls:
    """A floor's Bot API calls: JSON POSTs on the kept-alive connections ours makes them on
    (bot/channels/telegram/connections.py), their answers read and set aside."""

    def __init__(self, api_base: str, token: str) -> None:
        self.path = urlsplit(f"{api_base}{token}").path
        self.connections = Connections(api_base, 256, "floor")

    async def call(self, method: str, payload: dict[str, Any]) -> None:
        path = f"{self.path}/{method}"
        await self.connections.request("POST", path, orjson.dumps(payload), JSON_BODY)
