"""The `civicbot` command line (ARCHITECTURE §4)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from bot.app import Runtime, prepare_database
from bot.config import ConfigError, Settings
from bot.export import WISH_COLUMNS, wish_rows, write_csv
from storage import queries
from storage.models import Wish


class UsageError(Exception):
    """Bad arguments or unknown keys; the message is the one line the operator sees."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(message)


def build_parser() -> Parser:
    parser = Parser(prog="civicbot", description="Civic feedback bot for municipalities.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    commands.add_parser("serve", help="run the bot: web server, Telegram, migrations")

    export = commands.add_parser("export", help="export stored data")
    export.add_argument("what", choices=["wishes"])
    export.add_argument("--format", choices=["csv"], default="csv")
    export.add_argument("--municipality", metavar="KEY")
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    municipality = commands.add_parser("municipality", help="municipalities and their codes")
    municipality.add_argument("action", choices=["list"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        settings = Settings.from_env()
        if args.command == "serve":
            return serve(settings)
        if args.command == "export":
            return export(settings, args)
        return asyncio.run(list_municipalities(settings, sys.stdout))
    except (UsageError, ConfigError) as error:
        print(f"civicbot: {error}", file=sys.stderr)
        return 2


def serve(settings: Settings) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL, and Bot API URLs contain the bot token; twilio's client
    # logs every request it makes.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("twilio").setLevel(logging.WARNING)
    asyncio.run(_serve(settings))
    return 0


async def _serve(settings: Settings) -> None:
    runtime = Runtime(settings)
    await runtime.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await runtime.stop()


def export(settings: Settings, args: argparse.Namespace) -> int:
    rows = wish_rows(asyncio.run(load_wishes(settings, args.municipality)), settings.timezone)
    if args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as out:
            write_csv(out, WISH_COLUMNS, rows)
    else:
        write_csv(sys.stdout, WISH_COLUMNS, rows)
    return 0


async def load_wishes(settings: Settings, municipality_key: str | None) -> list[Wish]:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = None
            if municipality_key:
                municipality = await queries.municipality_by_key(session, municipality_key)
                if municipality is None:
                    raise UsageError(f"unknown municipality {municipality_key!r}")
            return list(await queries.wishes_for_export(session, municipality))
    finally:
        await db.close()


async def list_municipalities(settings: Settings, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            for m in await queries.all_municipalities(session):
                print(f"{m.code}\t{m.key}\t{m.region.key}\t{m.name_ky}", file=out)
    finally:
        await db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
