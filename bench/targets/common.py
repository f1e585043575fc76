"""What the comparison targets share: their command line, and the table they store into."""

from __future__ import annotations

import argparse

from sqlalchemy import text

from storage.db import Database


def arguments(*extra: str) -> argparse.Namespace:
    """--port, --database-url, --api-base (the fake Bot API's base), --token, and `extra`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    for name in ("--database-url", "--api-base", "--token", *extra):
        parser.add_argument(name, required=True)
    return parser.parse_args()


async def create_table(db: Database, name: str, columns: str) -> None:
    """`name` with an id that counts up on SQLite and PostgreSQL alike, and `columns`."""
    key = "INTEGER PRIMARY KEY" if db.engine.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    async with db.session() as session, session.begin():
        await session.execute(text(f"CREATE TABLE IF NOT EXISTS {name} (id {key}, {columns})"))


async def kept_as_is(_connection: object) -> None:
    """asyncpg's pool's `reset`: none. By default it resets each connection it takes back with
    a round trip of its own (RESET ALL, advisory locks let go…), which our pool does not
    make; the floors leave nothing on a connection to reset."""
