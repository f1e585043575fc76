"""A fresh database for each measured run: a SQLite file in the run's folder, or a new
database on the PostgreSQL server `--database-url` names, dropped afterwards. A run on a
database another run left would find its chats known and its update ids handled already:
it would measure duplicates answered again and buttons gone stale, not the flow."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import fresh_postgres_database


@contextlib.asynccontextmanager
async def fresh_database(given: str | None, work: Path, name: str) -> AsyncIterator[str]:
    """`given`: --database-url (None: SQLite). A SQLite URL given is used as it is."""
    if given is None:
        yield f"sqlite+aiosqlite:///{work / name}.db"
    elif given.startswith("postgresql"):
        async with fresh_postgres_database(given) as url:
            yield url
    else:
        yield given
