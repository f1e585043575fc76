"""Statements every inbound action runs, built once and run with as little machinery as can be.

SQLAlchemy composes, caches and runs a Core statement in about 60 µs, and loads ORM objects
in about three times that; SQLite answers the statement itself in 2–5 µs. For the handful of
statements on the path of every message (the de-duplication row, quotas, a new sender, a
signature), that machinery was most of the cost of an action (bench/signatures.py).

A `Prebuilt` is compiled once per dialect. On SQLite's writer connection (the group commit's,
storage/inline_sqlite.py) its SQL goes straight to the driver, inside the transaction
SQLAlchemy began, with SQLAlchemy's own bind processors for each parameter's type, and
driver errors raised as SQLAlchemy's exceptions (bot/channels/acks.py tells an outage by them).
On PostgreSQL it goes straight to asyncpg (its own prepared statements), in the transaction
SQLAlchemy's asyncpg adapter keeps (begun by the adapter itself when this is the first
statement, as Core's first would begin it): Core cost about 150 µs of CPU a statement against
asyncpg's 60 (docs/decisions.md); errors are translated as SQLAlchemy's asyncpg adapter
translates them, and a dropped connection is invalidated as Core would. Anywhere else
(SQLite's reader connections) it runs as ordinary Core.

Only statements whose parameters are plain (no expanding IN lists) are taken: on SQLite's
writer anything else is refused the first time it would go to the driver (a ValueError),
never mistranslated; on PostgreSQL it runs as Core. Result columns go through SQLAlchemy's own
result processors for their types (a boolean, a timestamp, JSON), as Core would convert them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable

from storage.inline_sqlite import InlineConnection, driver_error


@dataclass(frozen=True, slots=True)
class Ran:
    """What a statement gave: its rows (plain tuples), and how many rows it changed (an
    INSERT, UPDATE or DELETE) or gave (a SELECT)."""

    rows: Sequence[tuple[Any, ...]]
    rowcount: int

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    dml: bool
    returns: bool  # a SELECT, or a statement with RETURNING
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[Callable[[Any], Any] | None, ...] | None  # None: every column as it comes

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        """The run's values in the statement's order, each as its type binds it."""
        parameters = []
        for name, processor in zip(self.names, self.processors, strict=True):
            value = values[name] if name in values else self.defaults[name]
            parameters.append(processor(value) if processor is not None else value)
        return parameters

    def converted(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if self.results is None:
            return [tuple(row) for row in rows]
        return [_converted(self.results, row) for row in rows]


@dataclass(frozen=True, slots=True)
class _Seen:
    """A session's connection, looked up once per transaction: `session.connection()` is a
    trip through SQLAlchemy's greenlet each time. The transaction is held, so that its
    identity cannot pass to a later one."""

    transaction: object
    connection: AsyncConnection
    inline: InlineConnection | None  # the writer's driver connection, if this is it
    # On PostgreSQL: SQLAlchemy's adapter (its DB-API connection) and asyncpg's under it.
    adapter: Any | None
    asyncpg: Any | None


_SEEN = "prebuilt.seen"  # its key in session.info


async def _connection_of(session: AsyncSession) -> _Seen:
    seen: _Seen | None = session.info.get(_SEEN)
    if seen is not None and seen.transaction is _innermost(session):
        return seen
    # Begins the transaction if none is open, and a SAVEPOINT that `begin_nested` asked for
    # (SQLAlchemy emits it only when the connection is next asked for).
    connection = await session.connection()
    adapter = _adapter_of(connection)
    seen = _Seen(
        transaction=_innermost(session),
        connection=connection,
        inline=InlineConnection.of(connection),
        adapter=adapter,
        asyncpg=adapter.driver_connection if adapter is not None else None,
    )
    session.info[_SEEN] = seen
    return seen


def _innermost(session: AsyncSession) -> object:
    """The session's transaction, or the savepoint within it statements now belong to."""
    sync = session.sync_session
    return sync.get_nested_transaction() or sync.get_transaction()


def _adapter_of(connection: AsyncConnection) -> Any | None:
    if connection.dialect.driver != "asyncpg":
        return None
    return connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]


async def inline_connection(session: AsyncSession) -> InlineConnection | None:
    """The writer's driver connection under the session's transaction (begun if it was not),
    if that is the connection it uses: looked up once per transaction."""
    return (await _connection_of(session)).inline


async def flush_pending(session: AsyncSession) -> None:
    """`session.flush()` when the ORM holds something to write. The hot path writes by
    statements, so most actions leave it nothing; an empty flush still costs a trip through
    SQLAlchemy's greenlet. `dirty` is a superset of what a flush would write (an attribute
    set to its own value counts), so nothing a flush would do is skipped."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


class Prebuilt:
    """One statement (or one per dialect, for INSERT … ON CONFLICT), built once."""

    def __init__(self, statement: Executable | Mapping[str, Executable]) -> None:
        self._statements = statement if isinstance(statement, Mapping) else None
        self._statement = None if isinstance(statement, Mapping) else statement
        # By dialect: the tests run SQLite and PostgreSQL in one process. None: not plain.
        self._compiled: dict[str, _Compiled | None] = {}

    def statement(self, dialect: str) -> Executable:
        if self._statements is not None:
            return self._statements[dialect]
        assert self._statement is not None
        return self._statement

    async def run(self, session: AsyncSession, **values: Any) -> Ran:
        seen = await _connection_of(session)
        dialect = seen.connection.dialect
        if seen.inline is not None:
            return self._run_inline(seen.inline, dialect, values)
        if seen.asyncpg is not None:
            compiled = self._compiled_for(dialect)
            if compiled is not None:
                return await _run_asyncpg(seen, compiled, values)
        statement = self.statement(dialect.name)
        result = await seen.connection.execute(statement, values)
        # An INSERT's rows may be the primary key Core fetched for itself (PostgreSQL's implicit
        # RETURNING): they are not the statement's, and not counted as such.
        rows = [tuple(row) for row in result] if result.returns_rows else []
        return Ran(rows, max(int(result.rowcount), 0) if statement.is_dml else len(rows))

    def _run_inline(
        self, driver: InlineConnection, dialect: Dialect, values: Mapping[str, Any]
    ) -> Ran:
        compiled = self._compiled_for(dialect)
        if compiled is None:
            raise ValueError("a prebuilt statement cannot expand IN lists")
        parameters = compiled.parameters(values)
        try:
            cursor = driver.run(compiled.sql, parameters)
            rows = cursor.fetchall()
            rowcount = cursor.rowcount
            cursor.close()
        except sqlite3.Error as error:
            raise driver_error(compiled.sql, error, dialect) from error
        if compiled.results is not None:
            rows = compiled.converted(rows)
        return Ran(rows, max(rowcount, 0) if compiled.dml else len(rows))

    def _compiled_for(self, dialect: Dialect) -> _Compiled | None:
        if dialect.name not in self._compiled:
            self._compiled[dialect.name] = self._compile(dialect)
        return self._compiled[dialect.name]

    def _compile(self, dialect: Dialect) -> _Compiled | None:
        statement: Any = self.statement(dialect.name)
        compiled: Any = statement.compile(dialect=dialect)
        binds = compiled.binds
        if any(bind.expanding for bind in binds.values()):
            return None
        columns = getattr(statement, "exported_columns", ())
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        names = tuple(compiled.positiontup)
        return _Compiled(
            sql=compiled.string,
            dml=statement.is_dml,
            returns=bool(columns) or not statement.is_dml,  # a text() SELECT has no columns
            names=names,
            # Values written into the statement (`count=1`); the rest come with each run.
            defaults={
                name: bind.effective_value for name, bind in binds.items() if not bind.required
            },
            processors=tuple(
                binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
            ),
            results=results if any(results) else None,
        )


async def _run_asyncpg(seen: _Seen, compiled: _Compiled, values: Mapping[str, Any]) -> Ran:
    """On asyncpg's connection, in the transaction SQLAlchemy's adapter keeps on it, begun
    first if this is its first statement (asyncpg prepares each statement once a connection
    and keeps it)."""
    driver: Any = seen.asyncpg
    parameters = compiled.parameters(values)
    try:
        if not driver.is_in_transaction():
            await _begin(seen)
        if compiled.returns:
            rows = await driver.fetch(compiled.sql, *parameters)
            return Ran(compiled.converted(rows), len(rows))
        status = await driver.execute(compiled.sql, *parameters)
    except Exception as error:
        raised = await _as_sqlalchemy_error(seen, compiled.sql, error)
        if raised is error:
            raise
        raise raised from error
    return Ran([], _count_of(status))


async def _begin(seen: _Seen) -> None:
    """BEGIN, by SQLAlchemy's adapter, as Core's first statement would have it sent: the
    transaction is the adapter's, which commits or rolls it back with the session (asyncpg
    alone would autocommit); an AUTOCOMMIT connection begins nothing, as with Core.

    The adapter records the transaction only once BEGIN has answered, and asyncpg marks it
    before sending it. Cancelled in between (a server stopping), the server may hold a
    transaction that nobody would end, and asyncpg would make the next BEGIN a SAVEPOINT:
    the connection is let go, as Core lets go of one that a cancel interrupted."""
    adapter: Any = seen.adapter
    try:
        await adapter._start_transaction()
    except BaseException as error:
        if not isinstance(error, Exception):  # an Exception is translated by the caller
            seen.connection.sync_connection.invalidate(error)  # type: ignore[union-attr]
        raise


def _count_of(status: str) -> int:
    """The rows a command's status names ("INSERT 0 1", "UPDATE 3", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _as_sqlalchemy_error(seen: _Seen, sql: str, error: Exception) -> Exception:
    """An asyncpg error as Core raises it: translated by SQLAlchemy's adapter into its DB-API
    error and wrapped (IntegrityError, OperationalError…). What the adapter does not
    translate (an OSError) is raised as it is, as Core does. A dropped connection is shown
    to Core, whose handling of it is the whole of it: this connection invalidated, the
    pool's others let go (a server that dropped one has likely dropped them all), its
    events run."""
    adapter: Any = seen.adapter
    dialect = seen.connection.dialect
    try:
        adapter._handle_exception(error)  # raises the translated error
    except Exception as translated:
        error = translated
    if not isinstance(error, dialect.loaded_dbapi.Error):
        return error
    invalidated = dialect.is_disconnect(error, adapter, None)
    if invalidated:
        try:
            await seen.connection.exec_driver_sql("SELECT 1")
        except DBAPIError as seen_by_core:
            if seen_by_core.connection_invalidated:
                return seen_by_core
        await seen.connection.invalidate(error)  # it answered, or not as dropped: ours alone
    return DBAPIError.instance(
        sql,
        None,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        dialect=dialect,
        connection_invalidated=invalidated,
    )


def _converted(
    processors: tuple[Callable[[Any], Any] | None, ...], row: Sequence[Any]
) -> tuple[Any, ...]:
    return tuple(
        value if processor is None else processor(value)
        for processor, value in zip(processors, row, strict=True)
    )
