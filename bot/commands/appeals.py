"""The operator's view of appeals on the legal clock: `civicbot appeals overdue
[--municipality KEY]`, one tab-separated line per unanswered appeal past its due date —
number, municipality, wish reference, topic, due date, working days late — and never who
made it (the name and address stay sealed)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from bot.commands.admin import municipality_named, today_in
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from handlers.appeals import working_days_late
from storage.queries import appeals as appeal_rows


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    appeals = commands.add_parser("appeals", help="appeals on the legal clock")
    actions = appeals.add_subparsers(dest="action", required=True, parser_class=type(appeals))
    overdue = actions.add_parser(
        "overdue", help="unanswered appeals past their due date, the longest late first"
    )
    overdue.add_argument("--municipality", metavar="KEY", help="one municipality (default: all)")


async def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    today = today_in(settings)
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = await municipality_named(session, args.municipality)
            only = [municipality.id] if municipality is not None else None
            for appeal in await appeal_rows.overdue(session, today, only):
                wish = appeal.wish
                place = wish.municipality.key if wish.municipality is not None else ""
                late = working_days_late(appeal.due_on, today)
                print(
                    f"{appeal.number}\t{place}\t{wish.reference}\t{wish.category}"
                    f"\t{appeal.due_on.isoformat()}\t{late}",
                    file=out,
                )
    finally:
        await db.close()
    return 0
