"""The floor doing our work: the raw driver and our web stack (aiohttp's server on uvloop,
our Bot API connections, orjson), with the statements and the Bot API calls `civicbot serve`
makes for the bench's wish flow, on our schema, and nothing else (no ORM, no routing, no
catalogues, no outbox, no metrics or logs).

Per update, as ours: the sender, their place and their conversation read in one statement
(the person's and the conversation's rows locked on PostgreSQL), the conversation written
back, the delivery's row under its keyed hash (a redelivery changes nothing); a new sender's
person and conversation added; `/start m-KEY` looks the place up and settles the person
there (and moves their unplaced wishes); the language button confirms the language and
reads their roles (for the menu); the text counts towards the day's quota, draws an unused
reference and adds the wish. Twenty-five statements a resident, as ours (its statement log
on PostgreSQL), besides SAVEPOINTs. Answers: a sendMessage for each update, with an inline
keyboard where ours shows one; after a press an editMessageReplyMarkup, and the press's
answerCallbackQuery in the webhook's response. The texts are placeholders.

The schema is ours: `civicbot db init` makes it (and the places) before the server starts,
so the tables have our keys, indexes and foreign keys. SQLite (sqlite3) with our writer's
pragmas: one connection used on the event loop's thread, the actions waiting taken
together (storage/writer.py's MAX_BATCH), each in a SAVEPOINT, one COMMIT (in a thread: it
waits for the disk) before any of them is answered. PostgreSQL (asyncpg, a pool of 20, as
ours by default): each update a transaction of its own.

    python bench/targets/floor_work.py --port P --database-url URL --api-base URL --token T
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import os
import secrets
import sqlite3
import subprocess
import sys
from argparse import Namespace
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiohttp import web
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.targets.common import BotApiCalls, arguments, kept_as_is, serve
from storage.db import asyncpg_dsn
from storage.writer import MAX_BATCH, Outcome, resolve

ROOT = Path(__file__).resolve().parents[2]
OK = b'{"ok":true}'
KEY = b"bench-floor-work"  # ours keeps a delivery by its keyed hash
WISHES_A_DAY = 5
# Our writer connection's (storage/db.py), and the durability the floor has.
SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=FULL",
    "busy_timeout=5000",
    "foreign_keys=ON",
    "secure_delete=ON",
    "cache_size=-65536",
    "temp_store=MEMORY",
)


class Db(Protocol):
    """One action's statements, in its transaction; SQL with `?` placeholders, and `{lock}`
    where PostgreSQL locks the rows read."""

    async def rows(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]: ...
    async def count(self, sql: str, *args: Any) -> int: ...


Action = Callable[[Db], Awaitable[Any]]


class Redelivered(Exception):
    """Handled before: what this run wrote is rolled back."""


@dataclass
class Answer:
    chat: int
    text: str
    buttons: list[str] = field(default_factory=list)  # callback data, one row each
    edit: int | None = None  # the pressed message, whose keyboard goes
    press: str | None = None  # the press's id: answered in the webhook's response


@dataclass
class Sender:
    person: int
    place: int | None
    step: str | None
    data: dict[str, Any]


async def handle(db: Db, update: dict[str, Any]) -> Answer:
    """The update's work, as ours does it; Redelivered for an update handled before."""
    press = update.get("callback_query")
    message = press["message"] if press else update["message"]
    now = datetime.now(UTC)
    sender = await sender_of(db, (press or message)["from"]["id"], now)
    nonce = secrets.token_urlsafe(4)[:6]
    answer = await step(db, sender, press, message, nonce, now)
    await db.count(
        "UPDATE conversations SET step = ?, data = ?, nonce = ? WHERE person_id = ?",
        sender.step,
        orjson.dumps(sender.data).decode(),
        nonce,
        sender.person,
    )
    claimed = await db.count(
        "INSERT INTO inbound_deliveries (delivery_key, expires_at, reply) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        hmac.new(KEY, f"telegram:{update['update_id']}".encode(), "sha256").hexdigest(),
        now + timedelta(days=3),
        answer.text,
    )
    if not claimed:
        raise Redelivered
    return answer


async def sender_of(db: Db, user: int, now: datetime) -> Sender:
    """The sender, their place and their conversation (locked on PostgreSQL), added if new."""
    known = await db.rows(
        "SELECT p.id, p.language, p.language_confirmed, p.opted_out, p.municipality_id,"
        " m.key, r.key, c.step, c.data, c.nonce FROM people p"
        " JOIN conversations c ON c.person_id = p.id"
        " LEFT JOIN municipalities m ON m.id = p.municipality_id"
        " LEFT JOIN regions r ON r.id = m.region_id"
        " WHERE p.channel = ? AND p.channel_user_id = ?{lock}",
        "telegram",
        str(user),
    )
    if known:
        person, _, _, _, place, _, _, step, data, _ = known[0]
        return Sender(person, place, step, orjson.loads(data))
    added = await db.rows(
        "INSERT INTO people (channel, channel_user_id, language, language_confirmed,"
        " opted_out, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        "telegram",
        str(user),
        "ky",
        False,
        False,
        now,
    )
    await db.count(
        "INSERT INTO conversations (person_id, step, data, nonce) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        added[0][0],
        None,
        "{}",
        "",
    )
    return Sender(added[0][0], None, None, {})


async def step(
    db: Db,
    sender: Sender,
    press: dict[str, Any] | None,
    message: dict[str, Any],
    nonce: str,
    now: datetime,
) -> Answer:
    """The flow's step for this update: its statements, the sender's next step, the answer."""
    chat, person = int(message["chat"]["id"]), sender.person
    text = "" if press else message.get("text", "")
    answer = Answer(chat, "?")
    if press and sender.step == "language":
        await db.count("UPDATE people SET language_confirmed = ? WHERE id = ?", True, person)
        await db.rows("SELECT DISTINCT role FROM roles WHERE person_id = ?", person)
        answer, sender.step = Answer(chat, "Тил тандалды. /change"), None
    elif press and sender.step == "category":
        answer, sender.step = Answer(chat, "Жазыңыз:"), "text"
        sender.data = {"category": press["data"].split(":")[1]}
    elif text.startswith("/start m-"):
        await settle(db, sender, text.removeprefix("/start m-"))
        answer = Answer(chat, "Тилди тандаңыз:", [f"lang:ky:{nonce}"])
        sender.step = "language"
    elif text == "/change":
        answer, sender.step = Answer(chat, "Эмне жөнүндө?", [f"cat:roads:{nonce}"]), "category"
    elif sender.step == "text":
        reference = await add_wish(db, sender, text, now)
        answer, sender.step, sender.data = Answer(chat, f"Сакталды: №{reference}"), None, {}
    if press:
        answer.edit, answer.press = message["message_id"], press["id"]
    return answer


async def settle(db: Db, sender: Sender, key: str) -> None:
    """The place looked up, the person settled there, their unplaced wishes moved to it."""
    found = await db.rows(
        "SELECT m.id, r.key FROM municipalities m JOIN regions r ON r.id = m.region_id"
        " WHERE m.key = ?",
        key,
    )
    sender.place = found[0][0] if found else None
    await db.count(
        "UPDATE people SET municipality_id = ? WHERE id = ?", sender.place, sender.person
    )
    await db.count(
        "UPDATE wishes SET municipality_id = ? WHERE person_id = ? AND municipality_id IS NULL",
        sender.place,
        sender.person,
    )


async def add_wish(db: Db, sender: Sender, text: str, now: datetime) -> str:
    """The day's quota counted, the wish added under an unused reference."""
    await db.count(
        "INSERT INTO report_quotas (quota_key, count, expires_at) VALUES (?, 1, ?)"
        " ON CONFLICT (quota_key) DO UPDATE SET count = report_quotas.count + 1"
        " WHERE report_quotas.count < ?",
        f"wish:{sender.person}:{now.date()}",
        now + timedelta(days=1),
        WISHES_A_DAY,
    )
    reference = await unused_reference(db)
    await db.rows(
        "INSERT INTO wishes (reference, kind, category, text, municipality_id, person_id,"
        " channel, status, created_at, hidden, version, media_public)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        reference,
        "change",
        sender.data.get("category", "other"),
        text,
        sender.place,
        sender.person,
        "telegram",
        "accepted",
        now,
        False,
        1,
        False,
    )
    return reference


async def unused_reference(db: Db) -> str:
    """A random seven-digit reference no wish has yet, as ours draws it."""
    while True:
        reference = str(1_000_000 + secrets.randbelow(9_000_000))
        if not await db.rows("SELECT id FROM wishes WHERE reference = ? LIMIT 1", reference):
            return reference


# --- SQLite: one writer on the loop's thread, group commit --------------------------------


class SqliteDb:
    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in SQLITE_PRAGMAS:
            self.connection.execute(f"PRAGMA {pragma}")
        self.waiting: deque[tuple[Action, asyncio.Future[Any]]] = deque()
        self.task: asyncio.Task[None] | None = None

    async def rows(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return self.connection.execute(sql.replace("{lock}", ""), args).fetchall()

    async def count(self, sql: str, *args: Any) -> int:
        return self.connection.execute(sql.replace("{lock}", ""), args).rowcount

    async def run(self, action: Action) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((action, done))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.drain())
        return await done

    async def drain(self) -> None:
        while self.waiting:
            batch = [self.waiting.popleft() for _ in range(min(MAX_BATCH, len(self.waiting)))]
            try:
                outcomes = await self.commit(batch)
            except Exception as error:  # BEGIN or COMMIT failed: nothing of the batch is kept
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
                outcomes = [(done, None, error) for _, done in batch]
            resolve(outcomes)

    async def commit(self, batch: list[tuple[Action, asyncio.Future[Any]]]) -> list[Outcome]:
        """The batch's actions, each in a SAVEPOINT of one transaction; their outcomes once
        it is committed."""
        outcomes: list[Outcome] = []
        self.connection.execute("BEGIN IMMEDIATE")
        for action, done in batch:
            self.connection.execute("SAVEPOINT action")
            try:
                outcomes.append((done, await action(self), None))
            except Exception as error:  # this action alone is rolled back
                self.connection.execute("ROLLBACK TO action")
                outcomes.append((done, None, error))
            self.connection.execute("RELEASE action")
        await asyncio.to_thread(self.connection.execute, "COMMIT")
        return outcomes

    async def close(self) -> None:
        self.connection.close()


# --- PostgreSQL: a transaction per update --------------------------------------------------


@functools.cache
def numbered(sql: str) -> str:
    """`?` as asyncpg's $1, $2…; `{lock}` as our lock of the sender's rows."""
    parts = sql.replace("{lock}", " FOR NO KEY UPDATE OF c, p").split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class PostgresDb:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def rows(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return await self.connection.fetch(numbered(sql), *args)

    async def count(self, sql: str, *args: Any) -> int:
        status = await self.connection.execute(numbered(sql), *args)
        return int(status.rsplit(" ", 1)[-1])


class PostgresStore:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def run(self, action: Action) -> Any:
        async with self.pool.acquire() as connection, connection.transaction():
            return await action(PostgresDb(connection))

    async def close(self) -> None:
        await self.pool.close()


class Store(Protocol):
    async def run(self, action: Action) -> Any: ...
    async def close(self) -> None: ...


def make_schema(database_url: str) -> None:
    """Our schema and places, by `civicbot db init`, in a process of its own: this one stays
    as light as the floor."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bot.commands.cli", "db", "init"]
    subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


async def open_store(database_url: str, connections: int = 20) -> Store:
    """The store on a database that has our schema; on PostgreSQL a pool of `connections`."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return SqliteDb(url.database or ":memory:")
    import asyncpg

    pool = await asyncpg.create_pool(
        asyncpg_dsn(url), min_size=connections, max_size=connections, reset=kept_as_is
    )
    return PostgresStore(pool)


# --- the webhook ----------------------------------------------------------------------------

STORE = web.AppKey("store", Store)
BOT_API = web.AppKey("bot_api", BotApiCalls)


async def webhook(request: web.Request) -> web.Response:
    update = orjson.loads(await request.read())
    try:
        answer = await request.app[STORE].run(lambda db: handle(db, update))
    except Redelivered:
        return web.Response(body=OK, content_type="application/json")
    bot_api = request.app[BOT_API]
    if answer.edit is not None:
        edit = {"chat_id": answer.chat, "message_id": answer.edit, "reply_markup": {}}
        await bot_api.call("editMessageReplyMarkup", edit)
    message: dict[str, Any] = {"chat_id": answer.chat, "text": answer.text}
    if answer.buttons:
        rows = [[{"text": data, "callback_data": data}] for data in answer.buttons]
        message["reply_markup"] = {"inline_keyboard": rows}
    await bot_api.call("sendMessage", message)
    if answer.press is not None:
        body = {"method": "answerCallbackQuery", "callback_query_id": answer.press}
        return web.Response(body=orjson.dumps(body), content_type="application/json")
    return web.Response(body=OK, content_type="application/json")


async def main(args: Namespace) -> web.Application:
    app = web.Application()
    make_schema(args.database_url)
    app[STORE] = await open_store(args.database_url)
    app[BOT_API] = BotApiCalls(args.api_base, args.token)
    app.router.add_post("/telegram/webhook", webhook)
    return app


if __name__ == "__main__":
    given = arguments()
    serve(main(given), given.port)
