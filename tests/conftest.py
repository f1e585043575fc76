"""Fixtures: a fresh database per test (an SQLite file, and one on the session's PostgreSQL), the
fake Bot API server, and the bot itself started against both."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Executable, select
from sqlalchemy.engine import make_url

from bot.runtime import config
from bot.runtime.app import Runtime
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers.types import Text
from storage.db import Database, asyncpg_dsn
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.postgres_copies import PostgresCopies
from tests.resident import Resident, polling_delivery, webhook_delivery

# The session's PostgreSQL server (the `postgres_server` fixture) and the `browser` fixture;
# the conversation-level fixtures (tests/conversation.py).
pytest_plugins = ["tests.services", "tests.conversation"]

# Every database test runs on both.
BACKENDS = ["sqlite", "postgresql"]
PUBLIC_BASE_URL = "https://civic.example.test"
SECRET_KEY = "test-secret-key-not-for-production"


@pytest.fixture(autouse=True)
def no_developers_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A developer's own .env (docs/docker.md: `cp .env.example .env`) never reaches a test: the
    commands the tests run read a file that is not there (tests/test_settings.py puts the
    real default back in a folder of its own)."""
    monkeypatch.setattr(config, "DOTENV", tmp_path / "no.env")


@pytest.fixture(autouse=True)
def state_folder_of_the_test(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a command keeps for the user between runs (`civicbot chat`'s last buttons) goes
    to the test's own folder, not the home folder (and a process a test starts inherits it)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


async def raw_connection(url: str) -> asyncpg.Connection:
    """asyncpg's own connection to the database at `url` (a server's, or a test's), outside
    any pool: to administer, or to look at a test's database from outside the bot's."""
    return await asyncpg.connect(asyncpg_dsn(url))


def _url_of(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def _drop(server: str, name: str) -> None:
    admin = await raw_connection(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def fresh_postgres_database(server: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database on the test server; dropped afterwards."""
    name = f"civicbot_test_{uuid.uuid4().hex[:12]}"
    admin = await raw_connection(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _url_of(server, name)
    finally:
        await _drop(server, name)


async def _prepare(database_url: str) -> None:
    """What every start does first (migrations, the starter places), done once."""
    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    await db.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and seeded SQLite file, made once per session (per xdist worker: each has
    its own base folder); each test's database is a copy of it."""
    path = tmp_path_factory.getbasetemp() / "template.db"
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{path}"))
    # The last connection closed checkpointed the journal: the one file is the database.
    assert not path.with_name(f"{path.name}-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_copies(postgres_server: str) -> Iterator[PostgresCopies]:
    """A migrated and seeded PostgreSQL database, made once per session (per xdist worker),
    and each test's database a copy of it (CREATE DATABASE … TEMPLATE), made while the test
    before runs."""
    name = f"civicbot_template_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        admin = await raw_connection(postgres_server)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        await _prepare(_url_of(postgres_server, name))

    _run_apart(create())
    copies = PostgresCopies(asyncpg_dsn(postgres_server), name)
    yield copies
    copies.close()
    _run_apart(_drop(postgres_server, name))


def _run_apart(work: Coroutine[Any, Any, None]) -> None:
    """Run on a loop of its own, in a thread: the first PostgreSQL test asks for the template
    from inside its own running loop."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, work).result()


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """The test's own database, migrated and seeded as a start leaves it (a copy of the
    session's template); a start on it finds nothing left to do."""
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "civicbot.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
        return
    # Asked for here, so that a run on SQLite alone in one process starts no server (under
    # xdist the controller starts it before the workers: tests/services.py).
    copies: PostgresCopies = request.getfixturevalue("postgres_copies")
    server: str = request.getfixturevalue("postgres_server")
    name = await asyncio.to_thread(copies.take)
    try:
        yield _url_of(server, name)
    finally:
        await _drop(server, name)


@pytest.fixture(params=BACKENDS)
async def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, for the tests of migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
        return
    # Asked for here, so that a run on SQLite alone in one process starts no server (under
    # xdist the controller starts it before the workers: tests/services.py).
    async with fresh_postgres_database(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database, opened as a start opens it (for tests below the runtime)."""
    database = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    yield database
    await database.close()


def metric_value(name: str, **labels: str) -> float:
    """A counter's value in this process's registry (0 before anything counted it)."""
    from bot.runtime import metrics

    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def rows(database_url: str, model: Any) -> list[Any]:
    """Every row of a table, in the order written (read with a connection of its own)."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list((await session.scalars(select(model).order_by(model.id))).all())
    finally:
        await db.close()


async def execute(database_url: str, statement: Executable) -> None:
    """Run one statement and commit it, with a connection of its own (a test moving time)."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(statement)
    finally:
        await db.close()


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """For what only PostgreSQL has (several workers on one database)."""
    async with fresh_postgres_database(postgres_server) as url:
        yield url


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[Any]:
    """A fake of Twilio's Messages API on 127.0.0.1 (tests/twilio.py)."""
    from tests.twilio import FakeTwilio  # imports this module: not at the top

    server = FakeTwilio()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def catalogues() -> Catalogues:
    return Catalogues()


Say = Callable[..., str]


@pytest.fixture
def say(catalogues: Catalogues) -> Say:
    """What the bot says for a message key in a language: say("ru", "place.set", place=…)."""

    def render(in_language: str, key: str, /, **values: Any) -> str:
        return catalogues.text(in_language, Text(key, values))

    return render


StartBot = Callable[..., Awaitable[Runtime]]
StartBotOn = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def start_bot(start_bot_on: StartBotOn, database_url: str) -> StartBot:
    """Start the service against the test's database and the fake Bot API; mode is
    "webhook" or "polling". Everything started is stopped after the test."""

    async def start(mode: str = "webhook", **overrides: Any) -> Runtime:
        return await start_bot_on(database_url, mode, **overrides)

    return start


@pytest.fixture
async def start_bot_on(telegram: FakeTelegram, tmp_path: Path) -> AsyncIterator[StartBotOn]:
    """Like start_bot, on a database the test names (several servers on one database, and
    one folder of photos, tmp_path/media)."""
    started: list[Runtime] = []

    async def start(database_url: str, mode: str = "webhook", **overrides: Any) -> Runtime:
        fields: dict[str, Any] = {
            "database_url": database_url,
            "telegram_bot_token": TOKEN,
            "telegram_api_base_url": telegram.base_url,
            "public_base_url": PUBLIC_BASE_URL if mode == "webhook" else None,
            "port": 0,
            "secret_key": SECRET_KEY,
            "media_dir": str(tmp_path / "media"),
        }
        settings = Settings(**{**fields, **overrides})
        runtime = Runtime(settings)
        started.append(runtime)
        await runtime.start()
        if runtime.telegram is not None:
            await asyncio.wait_for(runtime.telegram.ready.wait(), 10)
        return runtime

    yield start
    for runtime in started:
        await runtime.stop()


def resident_of(
    runtime: Runtime, telegram: FakeTelegram, mode: str, user_id: int, language: str | None
) -> Resident:
    deliver = (
        webhook_delivery(runtime.base_url, runtime.settings.webhook_secret(), telegram)
        if mode == "webhook"
        else polling_delivery(telegram)
    )
    return Resident(telegram, deliver, user_id, language)


ExportWishes = Callable[..., Awaitable[list[dict[str, str]]]]


def _exporter(what: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `civicbot export WHAT --format csv` against the test database; the rows."""
    from bot.commands import cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)

    async def export(*arguments: str) -> list[dict[str, str]]:
        out = tmp_path / f"{what}-{uuid.uuid4().hex[:6]}.csv"
        command = ["export", what, "--format", "csv", "--output", str(out), *arguments]
        assert await asyncio.to_thread(cli.main, command) == 0
        with out.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    return export


@pytest.fixture
def export_wishes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ExportWishes:
    return _exporter("wishes", database_url, tmp_path, monkeypatch)


@pytest.fixture
def export_bribes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ExportWishes:
    return _exporter("bribes", database_url, tmp_path, monkeypatch)


Civicbot = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def civicbot(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Civicbot:
    """Run a `civicbot` command against the test database: (exit code, stdout, stderr)."""
    from bot.commands import cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)

    async def run(*arguments: str) -> tuple[int, str, str]:
        def call() -> tuple[int, str, str]:
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = cli.main(list(arguments))
            return code, out.getvalue(), err.getvalue()

        return await asyncio.to_thread(call)

    return run
