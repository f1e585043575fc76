"""`civicbot db upgrade|downgrade|current|history` over Alembic, with storage/db.py's one
configuration; `db init` stays in cli.py. The database is archived before its schema changes
(bot/runtime/backups.py): SQLite's, and here, run on purpose, PostgreSQL's too."""

from __future__ import annotations

import argparse
import asyncio
from typing import TextIO

from bot.commands.admin import UsageError
from bot.runtime import backups, database
from bot.runtime.config import Settings
from storage.db import alembic_config, known_revisions, newest_revision, refuse_newer


def add_parsers(actions: argparse._SubParsersAction) -> None:
    upgrade = actions.add_parser(
        "upgrade", help="apply migrations up to REV (default: the newest); archived first"
    )
    upgrade.add_argument("revision", metavar="REV", nargs="?", default="head", help="(head)")
    downgrade = actions.add_parser(
        "downgrade", help="undo migrations down to REV (see `db history`); archived first"
    )
    downgrade.add_argument("revision", metavar="REV", help="the revision to go back to")
    actions.add_parser("current", help="the revision the database is at, and the newest known")
    actions.add_parser("history", help="every migration this version has, oldest first")


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "history":
        return history(settings, out)
    current = asyncio.run(_current(settings))
    if args.action == "current":
        newest = newest_revision()
        if current == newest:
            state = "the newest"
        elif current is not None and current not in known_revisions():
            state = "newer than this civicbot"
        else:
            state = f"behind: the newest is {newest}"
        print(f"{current or 'empty (no schema)'} ({state})", file=out)
        return 0
    refuse_newer(current)
    target = newest_revision() if args.revision == "head" else args.revision
    if target not in known_revisions():
        raise UsageError(f"no revision {args.revision!r}: `civicbot db history` lists them")
    if target == current:
        print(f"already at {current}", file=out)
        return 0
    _check_direction(args.action, current, target)
    archive = asyncio.run(backups.before_migrating(settings, current, target, on_purpose=True))
    if archive is not None:
        print(f"backed up to {archive}", file=out)
    from alembic import command  # loaded by the commands that change the schema only

    config = alembic_config(settings.database_url)
    if args.action == "upgrade":
        command.upgrade(config, target)
    else:
        command.downgrade(config, target)
    print(f"{current or 'empty'} → {target}", file=out)
    return 0


def _check_direction(action: str, current: str | None, target: str) -> None:
    """Before anything is archived or changed: an upgrade goes forward, a downgrade back."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(""))
    order = [script.revision for script in reversed(list(scripts.walk_revisions()))]
    here = order.index(current) if current is not None else -1
    forward = order.index(target) > here
    if forward != (action == "upgrade"):
        where = current or "empty"
        other = "downgrade" if action == "upgrade" else "upgrade"
        raise UsageError(f"the database is at {where}: {target} is `civicbot db {other}`'s way")


async def _current(settings: Settings) -> str | None:
    db = database.opened(settings)  # a new SQLite file is FILE_MODE, as every start makes it
    try:
        return await db.schema_revision()
    finally:
        await db.close()


def history(settings: Settings, out: TextIO) -> int:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(settings.database_url))
    current = asyncio.run(_current(settings))  # marked in the list
    for script in reversed(list(scripts.walk_revisions())):
        mark = "  (current)" if script.revision == current else ""
        print(f"{script.revision}  {' '.join(script.doc.split())}{mark}", file=out)
    return 0
