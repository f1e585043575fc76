"""Storage: migrations both ways, SQLite settings, seeding, reference numbers."""

from __future__ import annotations

import asyncio
import re
import stat
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

import storage.db
from bot.runtime.config import ConfigError, Settings
from bot.runtime.database import prepare_database
from storage import queries
from storage.db import Database, MigrationFailed, alembic_config, newest_revision
from storage.domain import FIRST_MUNICIPALITY_CODE, facts
from storage.models import Municipality, Region, utcnow
from storage.place_list import shipped
from storage.seed import seed_places

TABLES = {
    "regions",
    "municipalities",
    "people",
    "roles",
    "wishes",
    "inbound_deliveries",
    "conversations",
    "initiatives",
    "signatures",
    "invites",
    "notices",
}


@pytest.fixture
def database_url(blank_database_url: str) -> str:
    """What these tests prove is the migrations themselves: each starts from an empty
    database, not the session's migrated template (tests/conftest.py)."""
    return blank_database_url


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_go_up_down_and_up_again(database_url: str) -> None:
    db = await prepare_database(Settings(database_url=database_url, secret_key="k"))
    try:
        assert await table_names(db) >= TABLES
        await asyncio.to_thread(command.downgrade, alembic_config(database_url), "base")
        assert not TABLES & await table_names(db)
        await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")
        assert await table_names(db) >= TABLES
    finally:
        await db.close()


async def test_widening_user_ids_keeps_what_points_at_people(database_url: str) -> None:
    """0016 rebuilds `people` on SQLite: conversations, wishes and notices stay with them."""
    config = alembic_config(database_url)
    await asyncio.to_thread(command.upgrade, config, "0015")
    db = Database(database_url)  # foreign keys on, as the bot runs
    try:
        async with db.engine.begin() as connection:
            person = await connection.scalar(
                text(
                    "INSERT INTO people (channel, channel_user_id, language, "
                    "language_confirmed, opted_out, created_at) "
                    "VALUES ('sms', '+996555000001', 'ky', true, false, :now) RETURNING id"
                ),
                {"now": utcnow()},
            )
            await connection.execute(
                text("INSERT INTO conversations (person_id, data, nonce) VALUES (:p, '{}', 'n')"),
                {"p": person},
            )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with db.engine.connect() as connection:
            people = (await connection.execute(text("SELECT count(*) FROM people"))).scalar()
            talks = (await connection.execute(text("SELECT count(*) FROM conversations"))).scalar()
        assert (people, talks) == (1, 1)
        async with db.session() as session, session.begin():  # and a long id fits
            await queries.ensure_person(session, "whatsapp", "KG." + "7" * 128, "ky")
    finally:
        await db.close()


async def test_a_start_migrates_a_schema_behind_and_leaves_a_current_one_alone(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every start prepares the database: one behind is brought to the newest revision, and
    on a current one alembic (its scripts, its own event loop) is not run at all."""
    settings = Settings(database_url=database_url, secret_key="k")
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "0015")
    db = await prepare_database(settings)
    await db.close()
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert await revision(database_url) == head

    async def refused(*_: object) -> None:
        raise AssertionError("alembic ran on a current schema")

    monkeypatch.setattr(storage.db, "migrate_apart", refused)
    db = await prepare_database(settings)
    await db.close()
    assert await revision(database_url) == head


# A start in a process of its own, which then names the alembic modules it holds.
START_AND_LIST = """
import asyncio, sys
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database

async def start() -> None:
    db = await prepare_database(Settings(database_url=sys.stdin.read(), secret_key="k"))
    await db.close()

asyncio.run(start())
print(sorted(name for name in sys.modules if name.split(".")[0] in ("alembic", "mako")))
"""


async def test_a_first_start_migrates_in_a_child_and_keeps_no_alembic(
    blank_database_url: str,
) -> None:
    """A server keeps what it imports while it runs: the migration of an empty database runs
    in a child process, and the starting process never loads alembic."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        START_AND_LIST,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate(blank_database_url.encode())
    assert child.returncode == 0
    assert out.decode().strip().splitlines()[-1] == "[]"
    assert await revision(blank_database_url) == newest_revision()


def test_the_newest_revision_read_from_the_scripts_is_alembics_head(tmp_path: Path) -> None:
    scripts = ScriptDirectory(str(storage.db.MIGRATIONS_DIR))
    assert newest_revision() == scripts.get_current_head()
    # The forms a script may take: alembic's template quotes with repr() (single quotes), a
    # merge follows several revisions, and a hand-written one may leave out the spaces.
    forms = {
        "a.py": "revision: str = 'a'\ndown_revision = None\n",
        "b.py": 'revision="b"\ndown_revision: str | None = "a"\n',
        "c.py": "revision = 'c'\ndown_revision = 'a'\n",
        "d.py": "# A merge.\nrevision = 'd'\ndown_revision = ('b', 'c')\n",
    }
    for name, script in forms.items():
        (tmp_path / name).write_text(script)
    assert storage.db.head_of(tmp_path) == "d"
    (tmp_path / "d.py").unlink()
    with pytest.raises(RuntimeError, match="several heads"):
        storage.db.head_of(tmp_path)


async def test_a_migration_that_fails_stops_the_start(database_url: str) -> None:
    """A schema whose migration cannot apply (stamped a revision behind what it holds: the
    newest migration's tables are there already): the child's migration fails, and so does
    the start, instead of serving on a schema it cannot read. (A revision these scripts do
    not know is refused before any migration: tests/test_backup.py.)"""
    settings = Settings(database_url=database_url, secret_key="k")
    await (await prepare_database(settings)).close()
    db = Database(database_url)
    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    newest = newest_revision()
    assert newest is not None
    behind = scripts.get_revision(newest).down_revision
    async with db.engine.begin() as connection:
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :behind"), {"behind": behind}
        )
    await db.close()
    with pytest.raises(MigrationFailed):
        await prepare_database(settings)


async def revision(database_url: str) -> str | None:
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await db.close()


async def test_the_migrations_build_what_the_models_describe(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata

    from storage.models import Base

    db = await prepare_database(Settings(database_url=database_url, secret_key="k"))
    try:
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
    finally:
        await db.close()
    assert differences == []


async def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.close()


async def test_seeding_is_idempotent_and_codes_are_stable(database_url: str) -> None:
    db = await prepare_database(Settings(database_url=database_url, secret_key="k"))
    try:
        async with db.session() as session:
            codes = {m.key: m.code for m in await queries.all_municipalities(session)}
            regions = (await session.scalars(select(Region))).all()
        # The journal's starter set keeps the first codes; the shipped towns follow.
        starter = [m["key"] for m in facts()["municipalities"]]
        assert list(codes)[: len(starter)] == starter
        assert set(codes) == set(starter) | {u.key for u in shipped("town") + shipped("aimak")}
        assert sorted(codes.values()) == list(
            range(FIRST_MUNICIPALITY_CODE, FIRST_MUNICIPALITY_CODE + len(codes))
        )
        assert len(regions) == len(facts()["regions"])

        # An operator's own municipality takes the next code; seeding again keeps all codes.
        async with db.session() as session, session.begin():
            session.add(
                Municipality(
                    key="at_bashy",
                    code=max(codes.values()) + 1,
                    region_id=regions[0].id,
                    name_ky="Ат-Башы",
                    name_ru="Ат-Баши",
                    name_en="At-Bashy",
                )
            )
        async with db.session() as session, session.begin():
            assert await seed_places(session) == 0
        async with db.session() as session:
            again = {m.key: m.code for m in await queries.all_municipalities(session)}
        assert {k: again[k] for k in codes} == codes
    finally:
        await db.close()


async def test_reference_numbers_are_unique_digits(database_url: str) -> None:
    db = await prepare_database(Settings(database_url=database_url, secret_key="k"))
    try:
        async with db.session() as session, session.begin():
            osh = await queries.municipality_by_key(session, "osh")
            assert osh is not None
            references = [
                (
                    await queries.add_wish(
                        session,
                        kind="change",
                        category="roads",
                        text=str(i),
                        municipality_id=osh.id,
                        channel="telegram",
                        person_id=None,
                    )
                ).reference
                for i in range(200)
            ]
        assert len(set(references)) == 200
        assert all(re.fullmatch(r"[1-9]\d{6}", r) for r in references)
    finally:
        await db.close()


def test_secret_key_is_generated_once_beside_the_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}")
    key = settings.resolved_secret_key()
    secret_file = tmp_path / "data" / "civicbot.secret"
    assert secret_file.read_text().strip() == key and len(key) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert settings.resolved_secret_key() == key
    assert (
        Settings(database_url=settings.database_url, secret_key="given").resolved_secret_key()
        == "given"
    )
    # The webhook secret derives from it, and fits Telegram's rules for secret tokens.
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", settings.webhook_secret())


def test_postgresql_needs_an_explicit_secret_key() -> None:
    with pytest.raises(ConfigError):
        Settings(database_url="postgresql+asyncpg://u@127.0.0.1/db").resolved_secret_key()


def test_settings_from_environment() -> None:
    settings = Settings.from_env({"PORT": "9000", "PUBLIC_BASE_URL": "https://bot.example.kg/"})
    assert settings.port == 9000
    assert settings.telegram_webhook_url == "https://bot.example.kg/telegram/webhook"
    assert settings.database_url == "sqlite+aiosqlite:///./civicbot.db"
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    with pytest.raises(ConfigError):
        Settings.from_env({"PORT": "eighty"})


def test_twilio_overrides_are_read_with_or_without_their_hash() -> None:
    for given in ("rc=5&rp=all", "#rc=5&rp=all", " #rc=5&rp=all "):
        settings = Settings.from_env({"TWILIO_WEBHOOK_OVERRIDES": given})
        assert settings.twilio_webhook_overrides == "rc=5&rp=all"
    assert Settings.from_env({}).twilio_webhook_overrides is None


@pytest.mark.parametrize(
    "env,says",
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY: 5 characters; use at least 32"),
        ({"SECRET_KEY": "change-me-at-least-32-random-characters"}, "placeholder"),
        ({"PUBLIC_BASE_URL": "bot.example.kg"}, "PUBLIC_BASE_URL: 'bot.example.kg' is not an"),
        ({"TELEGRAM_API_BASE_URL": "ftp://x/bot"}, "TELEGRAM_API_BASE_URL"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"PORT": "70000"}, "PORT"),
        ({"DIGEST_CRON": "every monday"}, "DIGEST_CRON 'every monday' is not a crontab line"),
        ({"TIMEZONE": "Asia/Nowhere"}, "TIMEZONE 'Asia/Nowhere' is not a known time zone"),
    ],
)
def test_every_setting_is_checked_when_read(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_settings_read_only_what_they_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")
    assert Settings.from_env({}).port == 8080  # a given mapping, not the process's environment
    assert Settings.from_env().port == 9999
    key = "k" * 32
    rotated = Settings.from_env({"SECRET_KEY": key, "SECRET_KEY_PREVIOUS": " old1, ,old2 "})
    assert rotated.secret_keys() == (key, "old1", "old2")  # old keys are not held to 32


def test_log_lines_are_stamped_in_utc_and_json_when_asked() -> None:
    import json
    import logging

    from bot.runtime.logs import TEXT, JsonFormatter, UtcFormatter

    record = logging.LogRecord(
        "bot.x", logging.ERROR, __file__, 1, "digest %s failed", ("W47",), None
    )
    record.created, record.msecs = 1764072000.25, 250  # 2025-11-25T12:00:00.250Z
    assert UtcFormatter(TEXT).format(record) == (
        "2025-11-25T12:00:00.250Z ERROR bot.x: digest W47 failed"
    )
    line = json.loads(JsonFormatter().format(record))
    assert line == {
        "time": "2025-11-25T12:00:00.250Z",
        "level": "ERROR",
        "logger": "bot.x",
        "message": "digest W47 failed",
    }
    assert Settings.from_env({"LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"})
