"""SQLite's one writer (storage/writer.py): the actions handed over together share one
transaction, each in a SAVEPOINT of its own. An action that fails is rolled back alone; when
the transaction itself is lost (the ORM's flush failed, or SQLite ended it), nothing of the
batch's earlier actions is acknowledged, the actions not yet begun run in the next batch, and
after a failed flush the writer isolates every later one for a while."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import storage.db
import storage.inline_sqlite
from bot.channels.acks import database_away
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from storage.db import Database
from storage.models import Region
from storage.prebuilt import Prebuilt
from storage.writer import HEAVY_AFTER_A_FAILED_FLUSH, BatchLost, GroupCommit
from tests.conftest import SECRET_KEY

Work = Callable[[AsyncSession], Awaitable[Any]]
TAKEN = "taken"  # a region written before each test's batches


@pytest.fixture
async def db(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Database]:
    """A started bot's SQLite database (the writer is SQLite's alone)."""
    shutil.copyfile(sqlite_template, tmp_path / "civicbot.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
    database = await prepare_database(Settings(database_url=url, secret_key=SECRET_KEY))
    await database.write(writes(TAKEN))
    yield database
    await database.close()


def names(key: str) -> dict[str, str]:
    return {"key": f"w-{key}", "name_ky": key, "name_ru": key, "name_en": key}


def writes(key: str) -> Work:
    """A region written by a statement (as the hot path's prebuilt statements write)."""

    async def work(session: AsyncSession) -> str:
        await session.execute(insert(Region).values(**names(key)))
        return key

    return work


def writes_then_fails(key: str) -> Work:
    async def work(session: AsyncSession) -> None:
        await session.execute(insert(Region).values(**names(key)))
        raise ValueError("the handler failed after writing")

    return work


def flushes_a_taken_key(session_seen: list[AsyncSession]) -> Work:
    """An ORM object whose flush breaks a unique constraint: SQLAlchemy then rolls back the
    whole transaction, not the action's savepoint alone."""

    async def work(session: AsyncSession) -> None:
        session_seen.append(session)
        session.add(Region(**names(TAKEN)))
        await session.flush()

    return work


# As the hot path writes: a prebuilt statement, straight on the writer's driver connection.
_ADD_REGION = Prebuilt(
    insert(Region).values(
        key=bindparam("key"),
        name_ky=bindparam("name"),
        name_ru=bindparam("name"),
        name_en=bindparam("name"),
        position=bindparam("position"),
    )
)


def ends_the_transaction_then_writes(key: str) -> Work:
    """Writes on after the transaction ended under it: a statement straight on the driver
    would be kept at once, outside any transaction, though its batch is lost."""

    async def work(session: AsyncSession) -> None:
        await session.execute(text("ROLLBACK"))
        await _ADD_REGION.run(session, key=f"w-{key}", name=key, position=0)

    return work


def ends_the_transaction(key: str) -> Work:
    """Writes, then the transaction ends under it (as SQLite ends one on a full disk)."""

    async def work(session: AsyncSession) -> None:
        await session.execute(insert(Region).values(**names(key)))
        await session.execute(text("ROLLBACK"))
        raise OSError("disk full")

    return work


async def at_once(db: Database, *works: Work) -> list[Any]:
    """Handed over in one go: they wait in the writer's queue together and share a batch."""
    return list(await asyncio.gather(*(db.write(w) for w in works), return_exceptions=True))


async def keys(db: Database) -> set[str]:
    """The regions the tests' works wrote (their keys start with "w-")."""
    async with db.session() as session:
        found = (await session.scalars(select(Region.key).where(Region.key.like("w-%")))).all()
    return {key.removeprefix("w-") for key in found} - {TAKEN}


async def test_a_failed_action_is_rolled_back_alone(db: Database) -> None:
    first, failed, last = await at_once(
        db, writes("first"), writes_then_fails("failed"), writes("last")
    )

    assert (first, last) == ("first", "last")
    assert isinstance(failed, ValueError)
    assert await keys(db) == {"first", "last"}


async def test_a_failed_flush_loses_its_batch_and_is_isolated_from_then_on(db: Database) -> None:
    sessions: list[AsyncSession] = []
    alone, before, failed, after = await at_once(
        db,
        writes_then_fails("alone"),
        writes("before"),
        flushes_a_taken_key(sessions),
        writes("after"),
    )

    assert isinstance(alone, ValueError)  # its own failure, still
    # SQLAlchemy rolled "before" back with the flush: not acknowledged, it comes again, as
    # after a database error (not counted against it as a fault of its own).
    assert isinstance(before, BatchLost) and database_away(before)
    assert isinstance(failed, IntegrityError)
    assert after == "after"  # not begun when the batch was lost: it ran in the next one
    assert await keys(db) == {"after"}

    again, failed_again, later = await at_once(
        db, writes("again"), flushes_a_taken_key(sessions), writes("later")
    )

    assert (again, later) == ("again", "later")  # from now on a failed flush is its own
    assert isinstance(failed_again, IntegrityError)
    assert await keys(db) == {"after", "again", "later"}
    assert len(sessions) == 2 and sessions[0] is not sessions[1]


async def test_the_writer_isolates_actions_for_a_while_and_longer_after_each_failed_flush(
    db: Database,
) -> None:
    """SQLAlchemy's savepoints cost every later action; the flush that failed may have been a
    one-off. Ten minutes on, the driver's own are back, and a flush failing again costs its
    batch once more and twice as long a while."""
    now = [0.0]
    assert db.writer is not None
    db.writer = GroupCommit(db.writer.sessions, clock=lambda: now[0])
    sessions: list[AsyncSession] = []

    async def lost_with_a_failed_flush(key: str) -> bool:
        """Whether an action begun before a failed flush in its batch was lost with it."""
        before, failed = await at_once(db, writes(key), flushes_a_taken_key(sessions))
        assert isinstance(failed, IntegrityError)
        return isinstance(before, BatchLost)

    assert await lost_with_a_failed_flush("first")
    now[0] += HEAVY_AFTER_A_FAILED_FLUSH - 1
    assert not await lost_with_a_failed_flush("isolated")
    now[0] += 1
    assert await lost_with_a_failed_flush("light-again")
    now[0] += 2 * HEAVY_AFTER_A_FAILED_FLUSH - 1
    assert not await lost_with_a_failed_flush("isolated-longer")
    now[0] += 1
    assert await lost_with_a_failed_flush("light-once-more")
    assert await keys(db) == {"isolated", "isolated-longer"}


def adds_then_fails(key: str) -> Work:
    """Writes as the hot path writes (a prebuilt statement), then fails."""

    async def work(session: AsyncSession) -> None:
        await _ADD_REGION.run(session, key=f"w-{key}", name=key, position=0)
        raise ValueError("the handler failed after writing")

    return work


def adds(key: str) -> Work:
    async def work(session: AsyncSession) -> str:
        await _ADD_REGION.run(session, key=f"w-{key}", name=key, position=0)
        return key

    return work


async def test_in_the_heavy_way_a_failed_actions_prebuilt_writes_go_with_its_savepoint(
    db: Database,
) -> None:
    """SQLAlchemy's savepoint of each action is emitted before its first prebuilt statement
    (the one after another action's): a failed action's writes go, its neighbours' stay.
    A claimed delivery kept from a failed action would make Telegram's retry a duplicate."""
    now = [0.0]
    assert db.writer is not None
    db.writer = GroupCommit(db.writer.sessions, clock=lambda: now[0])
    sessions: list[AsyncSession] = []
    await at_once(db, writes("light"), flushes_a_taken_key(sessions))  # the heavy way from now

    first, failed, last = await at_once(db, adds("first"), adds_then_fails("failed"), adds("last"))

    assert (first, last) == ("first", "last") and isinstance(failed, ValueError)
    assert await keys(db) == {"first", "last"}


async def test_a_transaction_sqlite_ended_loses_its_batch(db: Database) -> None:
    before, ended, after = await at_once(
        db, writes("before"), ends_the_transaction("ended"), writes("after")
    )

    assert isinstance(before, BatchLost) and isinstance(ended, OSError)
    assert after == "after"
    assert await keys(db) == {"after"}
    # Not a failed flush: the next batch's failed action is still rolled back alone.
    first, failed, last = await at_once(
        db, writes("first"), writes_then_fails("failed"), writes("last")
    )
    assert (first, last) == ("first", "last") and isinstance(failed, ValueError)
    assert await keys(db) == {"after", "first", "last"}


async def test_a_writer_stopped_in_the_middle_of_an_action_keeps_nothing_of_its_batch(
    db: Database,
) -> None:
    """A stop (the server's tasks cancelled) while an action is under way: the batch's
    transaction is rolled back, its SAVEPOINTs with it, nobody waits for ever, and the next
    action finds the writer's connection out of any transaction."""
    inside = asyncio.Event()

    async def stopped_half_way(session: AsyncSession) -> None:
        await _ADD_REGION.run(session, key="w-half-way", name="half-way", position=0)
        inside.set()
        await asyncio.Event().wait()  # until the stop

    waiting = asyncio.gather(
        db.write(writes("before")), db.write(stopped_half_way), db.write(writes("after"))
    )
    await inside.wait()
    (drain,) = [task for task in asyncio.all_tasks() if task.get_name() == "group-commit"]
    drain.cancel()
    with pytest.raises(asyncio.CancelledError):  # not a TimeoutError: nobody left waiting
        await asyncio.wait_for(waiting, 10)
    assert drain.cancelled()
    assert await keys(db) == set()

    after_the_stop, failed = await at_once(db, writes("next"), writes_then_fails("failed"))
    assert after_the_stop == "next" and isinstance(failed, ValueError)
    assert await keys(db) == {"next"}


async def test_nothing_is_written_outside_the_transaction(db: Database) -> None:
    before, carried_on, after = await at_once(
        db, writes("before"), ends_the_transaction_then_writes("carried-on"), writes("after")
    )

    assert await keys(db) == {"after"}  # nothing of the lost batch, "carried-on" included
    assert isinstance(before, BatchLost) and after == "after"
    assert isinstance(carried_on, DBAPIError) and "no transaction" in str(carried_on)


async def test_a_batch_shares_one_transaction(db: Database) -> None:
    """What the tests above rely on: works handed over together run in one session."""
    seen: list[AsyncSession] = []

    def records(key: str) -> Work:
        async def work(session: AsyncSession) -> str:
            seen.append(session)
            return await writes(key)(session)

        return work

    assert await at_once(db, records("a"), records("b"), records("c")) == ["a", "b", "c"]
    assert len({id(s) for s in seen}) == 1


async def test_a_batch_takes_a_free_write_lock_without_a_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer is nearly always the only one writing: its BEGIN runs on the event loop's
    thread; only the COMMIT (the disk's fsync) goes to a thread."""
    threaded: list[str] = []
    to_thread = asyncio.to_thread  # the process's: monkeypatch puts it back after the test

    async def recorded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        threaded.append(str(args[0]) if args else getattr(fn, "__name__", "?"))
        return await to_thread(fn, *args, **kwargs)

    monkeypatch.setattr(storage.inline_sqlite.asyncio, "to_thread", recorded)
    assert await at_once(db, writes("a"), writes("b")) == ["a", "b"]
    assert threaded == ["commit"]
    assert await keys(db) == {"a", "b"}


async def test_a_taken_write_lock_is_waited_for_in_a_thread(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process writing: the batch waits for its lock in a thread (up to the busy
    timeout) while the event loop goes on, then writes; the busy timeout is the configured
    one after."""
    other = sqlite3.connect(tmp_path / "civicbot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    waited: list[str] = []
    to_thread = asyncio.to_thread

    async def released_once_waiting(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if args and args[0] == "BEGIN IMMEDIATE":  # the other lets go only once it waits
            waited.append(args[0])
            loop.call_later(0.3, other.execute, "COMMIT")
        return await to_thread(fn, *args, **kwargs)

    # (the module's asyncio is the process's: monkeypatch puts to_thread back after the test)
    monkeypatch.setattr(storage.inline_sqlite.asyncio, "to_thread", released_once_waiting)
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    try:
        assert await db.write(writes("waited")) == "waited"
    finally:
        ticker.cancel()
        other.close()
    assert waited == ["BEGIN IMMEDIATE"]
    assert ticks >= 5  # the loop ran on while the batch waited 0.3 s
    assert await keys(db) == {"waited"}
    busy_timeout = await db.write(
        lambda session: session.scalar(text("PRAGMA busy_timeout"))  # the writer's own
    )
    assert busy_timeout == storage.db.SQLITE_BUSY_TIMEOUT_MS


async def test_an_actions_savepoint_journal_stays_in_memory(db: Database) -> None:
    """A SAVEPOINT journals the pages it changes, past 64 KiB into a temporary file by
    default, written on the event loop's thread. The writer keeps it in memory. (The open
    files are read from Linux's /proc, as on every machine the bot and its CI run on.)"""
    long_name = "x" * 400  # 200 rows of it fill about 20 pages

    async def fills(session: AsyncSession) -> None:
        for n in range(200):
            await _ADD_REGION.run(session, key=f"w-fill-{n}", name=long_name, position=n)

    def temporary_files() -> list[str]:
        # SQLite names its temporary files etilqs_… and unlinks them at once.
        targets = []
        for fd in Path("/proc/self/fd").iterdir():
            with contextlib.suppress(OSError):  # closed meanwhile by another thread
                targets.append(os.readlink(fd))
        return [target for target in targets if "etilqs_" in target]

    async def rewrites(session: AsyncSession) -> list[str]:
        await session.execute(
            text("UPDATE regions SET name_ky = upper(name_ky) WHERE key LIKE 'w-fill-%'")
        )
        return temporary_files()

    await db.write(fills)
    assert await db.write(rewrites) == []
