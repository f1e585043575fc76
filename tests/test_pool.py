"""A worker's PostgreSQL connections: a fixed pool for its work (past it, actions wait for a
connection instead of opening one each), and connections apart from it for advisory locks,
so that a leader holding its lock for good never takes the work's, and for the health check."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime.config import ConfigError, Settings
from bot.runtime.database import opened
from storage.db import DEFAULT_POOL_SIZE, Database

ACTIONS = 30
GUARD_S = 20  # far past any wait here: reached only when the pool can never give a connection


async def backend_of(session: AsyncSession) -> int:
    """The server process the action ran on, once the other actions have asked for theirs."""
    pid = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
    await asyncio.sleep(0.01)
    return pid


async def test_actions_past_the_pool_wait_for_its_connections(postgres_url: str) -> None:
    """Thirty actions at once on a pool of three: all done, on three server processes. With
    overflow, each action past the pool opened a connection and closed it on return."""
    db = Database(postgres_url, pool_size=3)
    try:
        backends = await asyncio.gather(*(db.write(backend_of) for _ in range(ACTIONS)))
    finally:
        await db.close()
    assert len(backends) == ACTIONS
    assert len(set(backends)) == 3


async def test_a_held_lock_leaves_the_work_its_connections(postgres_url: str) -> None:
    """A lock held (a sending loop's, for as long as its worker leads) on a pool of one: the
    work still gets the pool's connection, and the lock is still the server's to give once."""
    db = Database(postgres_url, pool_size=1)
    other = Database(postgres_url, pool_size=1)
    try:
        async with db.exclusive(7) as held:
            assert held
            assert await asyncio.wait_for(db.write(backend_of), GUARD_S) > 0
            async with other.exclusive(7) as also_held:
                assert not also_held
        async with other.exclusive(7) as held_after:
            assert held_after
    finally:
        await db.close()
        await other.close()


async def test_no_connection_free_in_time_is_the_database_away_and_health_waits_for_none(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool held (actions still running past the wait): another action fails as the
    database away, so that its delivery is tried again, never given up; /healthz's check
    does not wait behind the work and says the database answers."""
    from bot.channels.acks import database_away
    from storage import db as storage_db

    monkeypatch.setattr(storage_db, "POOL_TIMEOUT_S", 0.2)
    db = Database(postgres_url, pool_size=1)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def long_action(session: AsyncSession) -> int:
        pid = await backend_of(session)
        holding.set()
        await release.wait()
        return pid

    try:
        held = asyncio.create_task(db.write(long_action))
        await holding.wait()
        with pytest.raises(Exception) as caught:
            await db.write(backend_of)
        assert database_away(caught.value), caught.value
        assert await asyncio.wait_for(db.ping(), GUARD_S)
        release.set()
        assert await held > 0
    finally:
        release.set()
        await db.close()


async def test_the_pool_size_is_a_setting(postgres_url: str) -> None:
    assert Settings.from_env({}).database_pool_size == DEFAULT_POOL_SIZE
    chosen = Settings.from_env({"DATABASE_URL": postgres_url, "DATABASE_POOL_SIZE": "4"})
    db = opened(chosen)
    try:
        backends = await asyncio.gather(*(db.write(backend_of) for _ in range(ACTIONS)))
    finally:
        await db.close()
    assert len(set(backends)) == 4
    for wrong in ("0", "-1", "many", "1001"):
        with pytest.raises(ConfigError, match=r"^DATABASE_POOL_SIZE: "):
            Settings.from_env({"DATABASE_POOL_SIZE": wrong})
