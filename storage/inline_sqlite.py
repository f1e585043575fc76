"""The writer's SQLite connection, with its calls made on the event loop's own thread.

aiosqlite runs every call in a worker thread and hands the result back through the event
loop: three or four such round trips per statement (cursor, execute, fetch, close), about
0.7 ms a statement under load, which made the one writer (storage/writer.py) the limit.
SQLite itself answers a statement on a page in cache in microseconds, so for the writer's
connection the calls run inline. The two that may wait — `BEGIN IMMEDIATE` (for another
process's write lock, up to the busy timeout) and `COMMIT` (for the disk's fsync) — still go
to a thread, so the event loop never waits on the disk or on a lock. Only one task (the
group commit) uses this connection, one call at a time, so it may be used from either
thread (check_same_thread off).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

# Statements that may wait for another connection's lock: run in a thread.
WAITING_STATEMENTS = ("BEGIN IMMEDIATE",)


class InlineConnection(aiosqlite.Connection):
    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if fn == self._connection.commit or (args and args[0] in WAITING_STATEMENTS):
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def run(self, sql: str, parameters: Sequence[Any]) -> sqlite3.Cursor:
        """One statement straight on the driver, on this thread, in the transaction the group
        commit began (storage/prebuilt.py: the statements every action runs; the writer's
        savepoints). Refused outside one: in autocommit mode it would be kept at once, though
        the batch it belongs to may yet fail (SQLAlchemy rolled back after a failed flush, or
        SQLite ended the transaction itself)."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if not self._connection.in_transaction:
            raise sqlite3.OperationalError("no transaction is active")
        return self._connection.execute(sql, parameters)

    @staticmethod
    def of(connection: AsyncConnection) -> InlineConnection | None:
        """The writer's driver connection under a SQLAlchemy connection, if it is one."""
        driver = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        return driver if isinstance(driver, InlineConnection) else None


def driver_error(sql: str, error: sqlite3.Error, dialect: Dialect | None = None) -> StatementError:
    """A driver's error on this connection as SQLAlchemy raises it for its own statements
    (bot/channels/acks.py tells a database away from a fault by these), without parameters."""
    return DBAPIError.instance(
        sql, None, error, sqlite3.Error, hide_parameters=True, dialect=dialect
    )


def connect(path: str) -> InlineConnection:
    """Like aiosqlite.connect(path), for the writer."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, check_same_thread=False)

    return InlineConnection(connector, iter_chunk_size=64)
