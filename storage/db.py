"""The async engine and session factory, and applying migrations."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import inline_sqlite
from storage.signals import NOTICE_COMMITTED, SignallingSession
from storage.writer import GroupCommit

if TYPE_CHECKING:
    from alembic.config import Config

T = TypeVar("T")
log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # alembic's default, which migrations/env.py keeps
# Any fixed number, the same in every worker: PostgreSQL's advisory lock for the schema and
# the rows it starts with (migrations/env.py, storage/seed.py).
MIGRATION_LOCK = 0x63697669  # "civi"
SQLITE_BUSY_TIMEOUT_MS = 5000
WRITER_CACHE_KIB = 64 * 1024  # the one writing connection's page cache
POOL_RECYCLE_S = 1800  # a PostgreSQL connection is replaced after half an hour
DEFAULT_POOL_SIZE = 20  # PostgreSQL connections a worker keeps for its work (DATABASE_POOL_SIZE)
POOL_TIMEOUT_S = 30.0  # an action waits this long for one, then fails as the database away
# Kept apart from the work's: an advisory lock per channel sending polls and Telegram's long
# polling (4 today), and the health check.
SIDE_CONNECTIONS = 5


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (exports, /healthz) work while the bot writes; the busy timeout makes
    # a second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Overwrite deleted content: a cleared draft or a forgotten person leaves no trace in
    # the file's free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _writer_connection(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's recipe for SAVEPOINTs on SQLite: the driver begins nothing itself, and
    # `_begin_immediate` does. IMMEDIATE takes the write lock at once, so a transaction never
    # finds, halfway, that another wrote since it read (SQLITE_BUSY_SNAPSHOT, which no busy
    # timeout waits out).
    dbapi_connection.isolation_level = None
    # The keys every action inserts are keyed hashes, spread evenly over their indexes: with
    # SQLite's default 2 MB of cache, a large file has most of those pages read again.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    # Each action's SAVEPOINT keeps the pages it changes in a statement journal, past 64 KiB
    # in a temporary file by default: thousands of writes a second on the event loop's thread
    # under load. In memory it is freed at each action's RELEASE: at most the pages one action
    # rewrites (a few for a message; tens of MB for a bulk job over 200,000 rows).
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _json_text(value: Any) -> str:
    # Keys that are not strings become strings, as json.dumps makes them.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (a conversation's data, a delivery's kept answer…) through orjson: the standard
# library's json was about 6% of the webhook path (docs/decisions.md).
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def create_writer_engine(database_url: str) -> AsyncEngine:
    """SQLite's one writing connection, for group commit (storage/writer.py); its calls run
    on the event loop's thread (storage/inline_sqlite.py)."""
    url = make_url(database_url)
    path = url.database or ":memory:"

    async def connect() -> Any:
        return await inline_sqlite.connect(path)

    engine = create_async_engine(
        url,
        hide_parameters=True,
        pool_size=1,
        max_overflow=0,
        async_creator=connect,
        **JSON_CODEC,
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "connect", _writer_connection)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite database kept on disk; None for PostgreSQL or SQLite in memory.
    (Its key file, photos and backups are placed beside it.)"""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def asyncpg_dsn(database_url: str | URL) -> str:
    """A PostgreSQL URL as asyncpg takes it (no "+asyncpg" driver name), password included:
    for the code that talks to asyncpg itself (backups, the bench's floors, the tests)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def create_engine(database_url: str, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    url = make_url(database_url)
    # Errors would otherwise quote the bound values (residents' texts) into the logs.
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, hide_parameters=True, **JSON_CODEC)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No ping before each checkout: on asyncpg it is BEGIN, ";" and ROLLBACK, three round trips
    # of the ten an action makes. A connection the server dropped fails its first statement
    # instead; SQLAlchemy then discards the whole pool, and that delivery answers 5xx and is
    # delivered again (bot/channels/acks.py). Recycling bounds how long one sits idle, under
    # the idle timeouts of proxies and firewalls between us and the server.
    # A fixed pool, no overflow: SQLAlchemy closes an overflow connection as soon as it is
    # returned, so under load past the pool it opened one for every tenth action (959 in
    # 10,000 updates, two workers), each a new backend and its statements prepared again;
    # two workers then ran slower than one. Past the pool, actions wait for a connection.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        pool_recycle=POOL_RECYCLE_S,
        hide_parameters=True,
        **JSON_CODEC,
    )


def create_side_engine(database_url: str) -> AsyncEngine:
    """PostgreSQL connections apart from the work's fixed pool, never waited for: advisory
    locks (a leader holds its lock, and so its connection, for as long as it leads, which
    would take the pool's for good) and the health check (which must not wait behind a busy
    pool and call a database that answers down). Past SIDE_CONNECTIONS, more are opened."""
    return create_async_engine(
        make_url(database_url),
        pool_size=SIDE_CONNECTIONS,
        max_overflow=-1,
        pool_recycle=POOL_RECYCLE_S,
        hide_parameters=True,
    )


class Database:
    """One engine and its sessions; the rest of the program asks this for a session."""

    def __init__(self, database_url: str, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = database_url
        self.engine = create_engine(database_url, pool_size)
        # Set when a transaction that added a notice commits here (storage/signals.py).
        self.notice_committed = asyncio.Event()
        self.sessions = self._sessionmaker(self.engine)
        # SQLite has one writer: inbound actions share its transactions (storage/writer.py).
        # PostgreSQL takes many at once, each in its own.
        self.writer: GroupCommit | None = None
        self._writer_engine: AsyncEngine | None = None
        if self.engine.dialect.name == "sqlite":
            self._writer_engine = create_writer_engine(database_url)
            self.writer = GroupCommit(self._sessionmaker(self._writer_engine))
        self._side_engine: AsyncEngine | None = None
        if self.engine.dialect.name == "postgresql":
            self._side_engine = create_side_engine(database_url)

    def _sessionmaker(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return async_sessionmaker(
            engine,
            expire_on_commit=False,
            sync_session_class=SignallingSession,
            info={NOTICE_COMMITTED: self.notice_committed},
        )

    def session(self) -> AsyncSession:
        return self.sessions()

    async def write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in a transaction where inbound actions write: on SQLite, its one writer
        (sharing a commit with the actions waiting with it, storage/writer.py); elsewhere a
        transaction of its own. Returns once committed; raises if it could not be."""
        if self.writer is not None:
            return await self.writer.run(work)
        async with self.session() as session, session.begin():
            return await work(session)

    async def ping(self) -> bool:
        try:
            async with (self._side_engine or self.engine).connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    @contextlib.asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[bool]:
        """Whether this process holds the PostgreSQL advisory lock `key` for the block (one
        worker of several does a job). Held on a connection of its own outside any
        transaction, and released when the block ends or the connection drops. On SQLite,
        always True: one process."""
        if self._side_engine is None:
            yield True
            return
        async with self._side_engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            held = bool(
                await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            )
            try:
                yield held
            finally:
                if held:
                    with contextlib.suppress(Exception):  # a dropped connection let go already
                        await connection.execute(
                            text("SELECT pg_advisory_unlock(:key)"), {"key": key}
                        )

    async def schema_revision(self) -> str | None:
        """The migration the schema is at (alembic's version table); None on an empty one.
        Read without alembic, which a start on a current schema then never loads."""
        async with self.engine.connect() as connection:
            if not await connection.run_sync(lambda sync: inspect(sync).has_table(VERSION_TABLE)):
                return None
            rows = list(await connection.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))
        # Several rows are several heads: not a revision this program is at (alembic sorts it).
        return rows[0] if len(rows) == 1 else None

    async def close(self) -> None:
        for engine in (self.engine, self._writer_engine, self._side_engine):
            if engine is not None:
                await engine.dispose()


async def hold_migration_lock(session: AsyncSession) -> None:
    """Until the session's transaction ends, be the only worker changing the schema or its
    starting rows: several workers starting at once on one PostgreSQL take turns. SQLite has
    one process, whose writers wait for each other anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option, so that '%' in passwords needs no escaping.
    config.attributes["database_url"] = database_url
    return config


# Alembic keeps its context in module globals: one migration at a time in a process (a start
# migrates in a child of its own, `migrate_apart`; a command or a test may call `migrate`).
# Across processes on PostgreSQL an advisory lock does the same, see migrations/env.py.
_MIGRATING = threading.Lock()


def _assignments(source: str) -> dict[str, object]:
    """A script's module-level `name = literal` lines (annotated or not), as values."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and value is not None:
            with contextlib.suppress(ValueError):
                found[target.id] = ast.literal_eval(value)
    return found


@functools.cache
def newest_revision() -> str | None:
    """The head of the migration scripts, read once: they do not change while running. Read
    from the scripts' text, not by alembic (about 10 MB that a start on a current schema has
    no other use for)."""
    return head_of(MIGRATIONS_DIR / "versions")


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision of the migration scripts: a schema at any other is newer than this code."""
    return frozenset(
        str(_assignments(script.read_text(encoding="utf-8"))["revision"])
        for script in (MIGRATIONS_DIR / "versions").glob("*.py")
    )


class SchemaNewer(RuntimeError):
    """The database is at a revision this code has no script for: a newer version made it."""

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"the database is at revision {revision}, newer than this civicbot knows: run the "
            "version that upgraded it, or `civicbot db downgrade` with that version first"
        )
        self.revision = revision


def refuse_newer(current: str | None) -> None:
    """Raise SchemaNewer for a schema this code cannot have made (nor may migrate)."""
    if current is not None and current not in known_revisions():
        raise SchemaNewer(current)


def head_of(folder: Path) -> str | None:
    """The one revision of the folder's scripts that no script follows."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in folder.glob("*.py"):
        assigned = _assignments(script.read_text(encoding="utf-8"))
        revisions.add(str(assigned["revision"]))
        before = assigned.get("down_revision")  # None, one revision, or several (a merge)
        if isinstance(before, str):
            followed.add(before)
        elif isinstance(before, tuple | list):
            followed.update(str(each) for each in before)
    heads = revisions - followed
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {sorted(heads)}")
    return heads.pop() if heads else None


async def migrate_if_behind(
    db: Database, first: Callable[[str | None], Awaitable[object]] | None = None
) -> None:
    """migrate(), unless the schema is at the newest revision already. Alembic finds that
    too, but only after loading every script and starting an event loop of its own: three
    times the cost of a start on a current database (the tests start hundreds). Several
    workers on one PostgreSQL still take turns in migrate(). A schema newer than this code
    is refused here, once; `first(current)` runs before anything is migrated (an archive)."""
    current, newest = await db.schema_revision(), newest_revision()
    refuse_newer(current)
    if current != newest:
        if first is not None:
            await first(current)
        log.info("migrating the schema from %s to %s", current or "nothing", newest)
        await migrate_apart(db.url)


# The child's whole program: the URL comes on standard input, never in argv or the
# environment, which other users of the machine can read.
_MIGRATE_CHILD = (
    "import sys; from storage.db import migrate; migrate(sys.stdin.buffer.read().decode())"
)
_IMPORT_ROOT = str(Path(__file__).resolve().parent.parent)  # where `storage` is found


async def migrate_apart(database_url: str) -> None:
    """migrate() in a child process. A process keeps what it imports for as long as it
    runs: alembic and the scripts are about 16 MB that a server would carry after its
    first start for nothing. The child's own messages go to our standard error."""
    paths = [_IMPORT_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # not the working folder first on the path: a storage/ there is not ours
        "-c",
        _MIGRATE_CHILD,
        stdin=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )
    await child.communicate(database_url.encode())
    if child.returncode != 0:
        raise MigrationFailed(
            f"the migration failed (exit {child.returncode}, its error above): fix the cause "
            "and start again (`civicbot db current` says where the schema is), or restore the "
            "archive taken before it"
        )


class MigrationFailed(RuntimeError):
    """The child migrating the schema ended in error (its own traceback is printed above):
    one line for the operator, exit 2, which systemd does not restart (a restart every 5 s
    would only fail again)."""


def migrate(database_url: str) -> None:
    """Bring the schema to the newest revision. Runs its own event loop: call it outside one
    (or in a thread)."""
    from alembic import command

    with _MIGRATING:
        command.upgrade(alembic_config(database_url), "head")
