"""The writer's SQLite connection, with its calls made on the event loop's own thread.

aiosqlite runs every call in a worker thread and hands the result back through the event
loop: three or four such round trips per statement (cursor, execute, fetch, close), about
0.7 ms a statement under load, which made the one writer (storage/writer.py) the limit.
SQLite itself answers a statement on a page in cache in microseconds, so for the writer's
connection the calls run inline. `COMMIT` waits for the disk's fsync, so it goes to a thread.
`BEGIN IMMEDIATE` waits only while another connection (a command, a second worker, this
process's housekeeping sweep) holds the write lock: it is tried inline with the busy timeout
at 0, and only when the lock is taken goes to a thread to wait up to the busy timeout. So the
event loop never waits for the disk's fsync or in SQLite's busy handler (SQLite's own brief
retries for the WAL's read lock, rare, are not covered by the busy timeout either way). Only
one task (the group commit) uses this connection, one call at a time, so it may be used from
either thread (check_same_thread off).
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

# Statements that may wait for another connection's lock: in a thread when they would wait.
WAITING_STATEMENTS = ("BEGIN IMMEDIATE",)


class InlineConnection(aiosqlite.Connection):
    _busy_timeout: int | None = None  # ms, read once: restored after each lock taken at once

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if fn == self._connection.commit:
            return await asyncio.to_thread(fn, *args, **kwargs)
        if args and args[0] in WAITING_STATEMENTS:
            return await self._locking(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    async def _locking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A statement that takes the write lock: inline if the lock is free (nearly always:
        this is the process's one writer), else in a thread, waiting up to the busy timeout.
        Always in a thread, each batch's BEGIN waited behind whatever the event loop took up
        meanwhile (about 16 ms a batch under load), and the batch with it."""
        try:
            return self._without_waiting(fn, *args, **kwargs)
        except sqlite3.OperationalError as error:
            if (getattr(error, "sqlite_errorcode", 0) & 0xFF) != sqlite3.SQLITE_BUSY:
                raise
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _without_waiting(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn` with the busy timeout at 0: SQLITE_BUSY at once if the lock is taken."""
        assert self._connection is not None
        if self._busy_timeout is None:  # as the engine's connect event set it (storage/db.py)
            self._busy_timeout = int(self._connection.execute("PRAGMA busy_timeout").fetchone()[0])
        self._connection.execute("PRAGMA busy_timeout=0")
        try:
            return fn(*args, **kwargs)
        finally:
            self._connection.execute(f"PRAGMA busy_timeout={self._busy_timeout}")

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
