"""The floor: the least a durable webhook bot does per update, on the web stack ours uses
(aiohttp's server on uvloop, our Bot API connections, orjson) and the raw database driver —
one INSERT, committed before the webhook says 200, and one sendMessage. Nothing else: no
ORM, no conversation, no routing.

SQLite (sqlite3, WAL): one writing thread, since SQLite has one writer and its commit waits
on the disk without holding the event loop. It takes every INSERT waiting; with `--commit
group` (the floor) it commits them together, as ours does; with `--commit each` each in a
transaction of its own.
`--synchronous FULL` syncs the log at every commit (a kept update survives the machine's
crash); NORMAL only at checkpoints (it survives the process's crash, not the machine's).

PostgreSQL (asyncpg, a pool): one INSERT per update, each its own committed transaction
(`--commit` does not apply: concurrent commits share the log's flushes by themselves);
`--synchronous NORMAL` sets synchronous_commit off, FULL leaves it on.

    python bench/targets/floor.py --port P --database-url URL --api-base URL --token T
        --commit group|each --synchronous FULL|NORMAL
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import sys
import threading
from argparse import Namespace
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiohttp import web
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.targets.common import BotApiCalls, arguments, kept_as_is, serve
from storage.db import asyncpg_dsn
from storage.writer import Outcome, resolve

INSERT_SQLITE = "INSERT INTO bench_events (chat_id, body) VALUES (?, ?)"
INSERT_POSTGRES = "INSERT INTO bench_events (chat_id, body) VALUES ($1, $2)"
MAX_BATCH = 256  # inserts sharing one commit
ANSWER = b'{"ok":true}'

Row = tuple[int, str]


class Store(Protocol):
    async def insert(self, row: Row) -> None: ...


class SqliteWriter:
    """SQLite's one writer, on a thread of its own: `insert` returns once its row is
    committed."""

    def __init__(self, path: str, synchronous: str, group: bool) -> None:
        self.path, self.synchronous, self.group = path, synchronous, group
        self.loop = asyncio.get_running_loop()
        self.waiting: queue.SimpleQueue[tuple[Row, asyncio.Future[None]]] = queue.SimpleQueue()
        connection = self.connect()
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_events "
            "(id INTEGER PRIMARY KEY, chat_id BIGINT, body TEXT)"
        )
        connection.close()
        threading.Thread(target=self.run, name="sqlite-writer", daemon=True).start()

    def connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        return connection

    async def insert(self, row: Row) -> None:
        done = self.loop.create_future()
        self.waiting.put((row, done))
        await done

    def run(self) -> None:
        # Whatever is waiting is taken at once either way, so that the variants differ in
        # their commits only, not in how often this thread and the event loop's hand over.
        connection = self.connect()
        while True:
            batch = [self.waiting.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            if self.group:
                self.commit(connection, batch)
                continue
            for one in batch:
                self.commit(connection, [one])

    def commit(
        self, connection: sqlite3.Connection, batch: list[tuple[Row, asyncio.Future[None]]]
    ) -> None:
        """`batch` in one transaction; each of its `insert`s told once it is committed."""
        failure: Exception | None = None
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(INSERT_SQLITE, [row for row, _ in batch])
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            failure = error
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        outcomes: list[Outcome] = [(done, None, failure) for _, done in batch]
        self.loop.call_soon_threadsafe(resolve, outcomes)


class PostgresStore:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, dsn: str, synchronous: str) -> PostgresStore:
        import asyncpg

        settings = {"synchronous_commit": "off" if synchronous == "NORMAL" else "on"}
        pool = await asyncpg.create_pool(
            dsn, min_size=10, max_size=10, server_settings=settings, reset=kept_as_is
        )
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_events "
            "(id SERIAL PRIMARY KEY, chat_id BIGINT, body TEXT)"
        )
        return cls(pool)

    async def insert(self, row: Row) -> None:
        await self.pool.execute(INSERT_POSTGRES, *row)


async def open_store(database_url: str, commit: str, synchronous: str) -> Store:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return SqliteWriter(url.database or ":memory:", synchronous, group=commit == "group")
    return await PostgresStore.open(asyncpg_dsn(url), synchronous)


def row_of(update: dict[str, Any]) -> Row:
    """The chat an update came from, and its text (a button press: the message's)."""
    query = update.get("callback_query") or {}
    message = update.get("message") or query.get("message") or {}
    chat = (message.get("chat") or query.get("from") or {})["id"]
    return int(chat), str(message.get("text", ""))


STORE = web.AppKey("store", Store)
BOT_API = web.AppKey("bot_api", BotApiCalls)


async def webhook(request: web.Request) -> web.Response:
    chat, body = row_of(orjson.loads(await request.read()))
    await request.app[STORE].insert((chat, body))
    await request.app[BOT_API].call("sendMessage", {"chat_id": chat, "text": "ok"})
    return web.Response(body=ANSWER, content_type="application/json")


async def main(args: Namespace) -> web.Application:
    app = web.Application()
    app[STORE] = await open_store(args.database_url, args.commit, args.synchronous.upper())
    app[BOT_API] = BotApiCalls(args.api_base, args.token)
    app.router.add_post("/telegram/webhook", webhook)
    return app


if __name__ == "__main__":
    given = arguments("--commit", "--synchronous")
    serve(main(given), given.port)
