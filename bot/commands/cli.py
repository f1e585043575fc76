"""The `civicbot` command line (docs/architecture.md §4)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import logging
import re
import signal
import socket
import sys
from collections.abc import Coroutine, Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError

from bot.commands import accountability as accountability_export
from bot.commands import admin, appeals, campaigns, municipalities, poll_results, polls, rotation
from bot.commands import audit as audit_command
from bot.commands import backup as backup_command
from bot.commands import db as db_command
from bot.commands import digests as digest_commands
from bot.commands.admin import UsageError
from bot.reports import bribe_stats
from bot.reports.export import BRIBE_COLUMNS, WISH_COLUMNS, bribe_rows, wish_rows, write_table
from bot.runtime import database, logs
from bot.runtime.build import version
from bot.runtime.config import ENVIRONMENT, ConfigError, Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers.bribes import recent_months
from handlers.log_fields import fields
from handlers.pseudonyms import Pseudonyms
from handlers.sealing import SealBroken
from storage import queries
from storage.backup import BackupError
from storage.db import MigrationFailed, SchemaNewer
from storage.domain import LANGUAGES
from storage.models import BribeReport, Wish

# What ends a command, or a start, with a sentence of its own instead of a traceback.
REFUSALS = (UsageError, ConfigError, SealBroken, BackupError, SchemaNewer, MigrationFailed)
YOUNG_OBJECTS_COLLECTED = 10_000  # the garbage collector's first threshold while serving

log = logging.getLogger(__name__)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(message)


def build_parser() -> Parser:
    parser = Parser(
        prog="civicbot",
        description="Civic feedback bot for municipalities.",
        epilog="Settings come from the environment, or from a .env file in the working folder "
        "(the environment wins); `civicbot serve --help` lists them.",
    )
    parser.add_argument("--version", action="version", version=f"civicbot {version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    commands.add_parser(
        "serve",
        help="run the bot: web server, Telegram, migrations",
        description="Apply migrations, then serve Telegram, SMS, /healthz and /metrics, and "
        "send the weekly digests.\nAll settings come from the environment, or from a .env file "
        "in the working folder (the environment wins):",
        epilog="\n".join(f"  {name}\n      {meaning}" for name, meaning in ENVIRONMENT),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    db = commands.add_parser("db", help="the database itself")
    db_actions = db.add_subparsers(dest="action", required=True, parser_class=Parser)
    db_actions.add_parser(
        "init",
        help="create the database DATABASE_URL names (default ./civicbot.db) and add the "
        "starter places; safe to repeat",
    )
    db_command.add_parsers(db_actions)

    export = commands.add_parser("export", help="export stored data")
    export.add_argument(
        "what",
        choices=["wishes", "bribes", "signatures", "campaigns", "accountability"],
        help="which table",
    )
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv", help="(csv)")
    export.add_argument("--municipality", metavar="KEY", help="one municipality's rows only")
    export.add_argument("--initiative", metavar="CODE", help="for signatures: whose list")
    export.add_argument(
        "--output",
        metavar="FILE",
        help="write here (default: csv to standard output; xlsx to WHAT[-KEY]-DATE.xlsx here)",
    )

    verify = commands.add_parser("verify-export", help="check a signature export's hash chain")
    verify.add_argument("file", metavar="FILE", help="the exported list (csv or xlsx)")
    verify.add_argument("--head", metavar="HASH", help="the chain head printed by the export")

    initiative = commands.add_parser("initiative", help="citizens' initiatives")
    actions = initiative.add_subparsers(dest="action", required=True, parser_class=Parser)
    add = actions.add_parser("add", help="open an initiative for signatures")
    add.add_argument("code", metavar="CODE", help="short code used in links and SMS (SUU)")
    add.add_argument(
        "--kind",
        choices=["law", "constitution", "local"],
        required=True,
        help="sets the threshold and the window the law gives",
    )
    add.add_argument(
        "--published", metavar="YYYY-MM-DD", required=True, help="when the draft was published"
    )
    add.add_argument("--municipality", metavar="KEY", help="for --kind local")
    add.add_argument("--no-address", action="store_true", help="signers give name and PIN only")
    admin.add_text_options(add)
    edit = actions.add_parser("edit", help="change an initiative's texts, dates or threshold")
    edit.add_argument("code", metavar="CODE", help="the initiative's code")
    admin.add_text_options(edit)
    actions.add_parser("list", help="every initiative, its window and progress")
    close = actions.add_parser("close", help="stop collecting signatures now")
    close.add_argument("code", metavar="CODE", help="the initiative's code")

    invite = commands.add_parser("invite", help="an invite code for an official or initiator")
    invite.add_argument(
        "--role", choices=list(admin.ROLES), required=True, help="what the invite makes of them"
    )
    invite.add_argument("--municipality", metavar="KEY", help="where a deputy or staff serves")
    invite.add_argument("--initiative", metavar="CODE", help="for --role initiator")
    invite.add_argument("--days", type=int, default=admin.INVITE_DAYS, help="valid for (14)")

    report = commands.add_parser("report", help="aggregate figures, as officials see them")
    report.add_argument("what", choices=["bribes"], help="what to count")
    report.add_argument("--municipality", metavar="KEY", required=True, help="whose figures")
    report.add_argument(
        "--period", metavar="YYYY-MM[:YYYY-MM]", help="months (default: this one and three before)"
    )
    report.add_argument("--lang", choices=LANGUAGES, default="en", help="(en)")

    secret = commands.add_parser("secret", help="SECRET_KEY: a new one, rotating to it")
    secret.add_argument(
        "action",
        choices=["new", "rotate", "forget-previous"],
        help="new: print a fresh key; rotate: move stored data to SECRET_KEY (on SQLite without "
        "SECRET_KEY, first put a new key in the key file); forget-previous: rotate, then drop "
        "the older keys from the key file",
    )

    municipality = commands.add_parser("municipality", help="municipalities and their codes")
    places = municipality.add_subparsers(dest="action", required=True, parser_class=Parser)
    places.add_parser("list", help="code, key, region and name of every municipality")
    add_place = places.add_parser("add", help="add one municipality")
    add_place.add_argument("key", metavar="KEY", help="a-z, 0-9 and _ (naryn_city)")
    add_place.add_argument("--region", metavar="KEY", required=True, help="its region's key")
    for language in LANGUAGES:
        add_place.add_argument(
            f"--name-{language}", metavar="NAME", required=True, help=f"its name in {language}"
        )
    add_place.add_argument("--code", metavar="N", help="its SMS code (default: the next free)")
    add_place.add_argument("--district", metavar="NAME", help="its district")
    add_place.add_argument(
        "--threshold", metavar="N", help="signatures a local initiative needs (its charter)"
    )
    import_places = places.add_parser(
        "import", help="add or update municipalities from a CSV file (safe to repeat)"
    )
    import_places.add_argument(
        "file", metavar="FILE.csv", help="columns: " + ", ".join(municipalities.COLUMNS)
    )
    poll_results.add_municipality_parsers(places)
    digest_commands.add_parsers(commands)
    campaigns.add_parsers(commands)
    polls.add_parsers(commands)
    audit_command.add_parsers(commands)
    appeals.add_parsers(commands)
    backup_command.add_parsers(commands)
    commands.add_parser("chat", help="talk to the bot in this terminal (for trying and training)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        # Two commands need no settings: they must work before .env is filled in (a new
        # key for it) and on a machine that only checks a list handed over.
        if args.command == "secret" and args.action == "new":
            print(rotation.new_key(), file=sys.stdout)
            return 0
        if args.command == "verify-export":
            return admin.verify_export(args, sys.stdout)
        settings = Settings.from_env()
        if args.command == "serve":
            return serve(settings)
        if args.command == "db" and args.action == "init":
            return asyncio.run(db_init(settings, sys.stdout))
        if args.command == "restore":  # into an absent database, which it makes
            return backup_command.restore(settings, args, sys.stdout)
        # Only `serve` and `db init` make the default database; the rest say which they use.
        database.require_existing(settings)
        code = on_the_database(settings, args)
        if code == 0 and args.command != "chat":  # the chat says it as it begins
            print(f"civicbot: database {database.location(settings)}", file=sys.stderr)
        return code
    except REFUSALS as error:
        print(f"civicbot: {error}", file=sys.stderr)
        return 2


def on_the_database(settings: Settings, args: argparse.Namespace) -> int:
    """A command run by hand: a database it cannot reach, or one that refuses what it asks,
    is one line for the operator (`serve` instead exits 1, so that systemd starts it again
    once the database is back)."""
    try:
        return run_command(settings, args)
    except (ConnectionError, TimeoutError, socket.gaierror) as error:
        reason = str(error) or type(error).__name__
        raise UsageError(
            f"cannot reach the database {database.location(settings)} ({reason})"
        ) from error
    except DBAPIError as error:
        said = str(error.orig or error).strip().splitlines()[0]
        raise UsageError(f"the database {database.location(settings)} refused: {said}") from error


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    """Every command that works on the database, but `serve` and `db`."""
    if args.command == "export":
        named = args.format == "xlsx" and not args.output  # a spreadsheet is no text to print
        if named:
            args.output = str(spreadsheet_name(args, admin.today_in(settings)))
        if args.what == "signatures":
            code = asyncio.run(admin.export_signatures(settings, args, sys.stdout))
        else:
            code = export(settings, args)
        if named and code == 0:
            print(f"civicbot: written to {args.output} (no --output given)", file=sys.stderr)
        return code
    if args.command == "initiative":
        return asyncio.run(initiative_command(settings, args))
    if args.command == "invite":
        return asyncio.run(admin.invite(settings, args, sys.stdout))
    if args.command == "report":
        return asyncio.run(report_bribes(settings, args, sys.stdout))
    if args.command == "campaign":
        return asyncio.run(campaigns.main(settings, args, sys.stdout))
    if args.command in ("poll", "budget"):
        return asyncio.run(polls.main(settings, args, sys.stdout))
    if args.command == "secret":
        return secret_command(settings, args.action, sys.stdout)
    if args.command == "db":
        return db_command.main(settings, args, sys.stdout)
    if args.command == "backup":
        return backup_command.backup(settings, args, sys.stdout, sys.stderr)
    if args.command == "chat":
        from bot.channels.terminal import channel as chat  # the handlers' whole stack

        return asyncio.run(chat.chat(settings, sys.stdin, sys.stdout))
    if args.command == "audit":
        return asyncio.run(audit_command.main(settings, args, sys.stdout))
    if args.command in ("digest", "officials"):
        return asyncio.run(digest_commands.main(settings, args, sys.stdout))
    if args.command == "appeals":
        return asyncio.run(appeals.main(settings, args, sys.stdout))
    return asyncio.run(municipality_command(settings, args, sys.stdout))


def spreadsheet_name(args: argparse.Namespace, day: date) -> Path:
    """Where an XLSX export goes without --output: in the working folder, named for what it
    holds, whose and the day (wishes-naryn_city-2026-12-07.xlsx), never over an earlier one."""
    whose = args.initiative if args.what == "signatures" else args.municipality
    parts = (args.what, re.sub(r"[^\w-]", "_", whose or ""), day.isoformat())
    stem = "-".join(part for part in parts if part)
    for number in range(1, 1000):
        path = Path(f"{stem}.xlsx" if number == 1 else f"{stem}-{number}.xlsx")
        if not path.exists():
            return path
    raise UsageError(f"{stem}.xlsx and 998 more are there already: give --output FILE")


async def db_init(settings: Settings, out: TextIO) -> int:
    db, new = await database.initialise(settings)
    try:
        async with db.session() as session:
            places = len(await queries.all_municipalities(session))
    finally:
        await db.close()
    state = "created" if new else "ready (it was there; migrations up to date)"
    print(f"database {database.location(settings)}: {state}, {places} municipalities", file=out)
    return 0


async def initiative_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "add":
        return await admin.add_initiative(settings, args, sys.stdout)
    if args.action == "edit":
        return await admin.edit_initiative(settings, args, sys.stdout)
    if args.action == "close":
        return await admin.close_initiative(settings, args, sys.stdout)
    return await admin.list_initiatives(settings, sys.stdout)


def secret_command(settings: Settings, action: str, out: TextIO) -> int:
    key_file = settings.secret_file() if not settings.secret_key else None
    if action == "rotate" and key_file is not None:
        rotation.add_key_to_file(settings)
        print(f"a new key is first in {key_file}; the older ones stay below it", file=out)
    elif action == "rotate" and not settings.secret_key_previous:
        raise UsageError(
            "set SECRET_KEY to the new key and SECRET_KEY_PREVIOUS to the old one "
            "(`civicbot secret new` makes a key), restart the bot with them, then rotate"
        )
    keys = settings.secret_keys()
    count = asyncio.run(_rekey(settings, keys))
    print(f"{count} signatures sealed and keyed with the newest key", file=out)
    if action == "forget-previous":
        if key_file is not None:
            rotation.write_key_file(key_file, keys[:1])
            print(f"older keys removed from {key_file}", file=out)
        elif settings.secret_key_previous:
            print("now remove SECRET_KEY_PREVIOUS from the bot's environment", file=out)
    return 0


async def _rekey(settings: Settings, keys: tuple[str, ...]) -> int:
    db = await prepare_database(settings)
    try:
        return await rotation.rekey(db, Pseudonyms.from_keys(keys))
    finally:
        await db.close()


def serve(settings: Settings) -> int:
    logs.configure(settings.log_format)
    try:
        run_loop(_serve(settings))
    except REFUSALS as error:
        return refused(settings, str(error))
    except OSError as error:
        # Only the listening socket's: a bind names no file (an archive or a key file would).
        bind = error.filename is None and "bind" in str(error)
        if not bind or error.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        reason = error.strerror or str(error)
        return refused(
            settings,
            f"cannot listen on {settings.host}:{settings.port} ({reason.lower()}); "
            "set PORT (or HOST) to a free one",
        )
    return 0


def refused(settings: Settings, reason: str) -> int:
    """A start refused, in one line on standard error as the log writes its lines: `civicbot:
    …` at a terminal, one JSON object with LOG_FORMAT=json, where a collector reads every line
    as one. (Settings that cannot be read are refused before the format is known: plain.)"""
    if settings.log_format == "json":
        log.error("%s", reason, extra=fields("start", outcome="refused"))
    else:
        print(f"civicbot: {reason}", file=sys.stderr)
    return 2


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """The server on libuv's event loop (uvloop): about 15 % more updates a second under
    the bench than asyncio's own (docs/decisions.md); asyncio's where it has none (Windows)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(settings: Settings) -> None:
    # Telegram, Twilio and the web server: imported by the one command that serves them.
    from bot.runtime.app import Runtime

    runtime = Runtime(settings)
    try:
        await runtime.start()
    except BaseException:
        await runtime.stop()  # what had started (the scheduler, the notices) stops quietly
        raise
    # Everything loaded so far (modules, settings, catalogues: some 140,000 objects) lives as
    # long as the process. Out of the collector's sight, a full collection takes microseconds
    # instead of about 70 ms, a pause every update in flight would wait through.
    gc.collect()  # what the start left as garbage goes first, not frozen with the rest
    gc.freeze()
    # The youngest generation is collected when 10,000 more objects are alive, not 700: a
    # batch of actions holds thousands at once, all freed by their counts soon after, and
    # at 700 it was collected every few actions (1.5 s of 60,000 signatures; 0.1 s now).
    gc.set_threshold(YOUNG_OBJECTS_COLLECTED, *gc.get_threshold()[1:])
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    log.info(
        "event loop: %s; %d objects of the start frozen; the youngest collected past %d",
        type(loop).__module__.split(".")[0],
        gc.get_freeze_count(),
        gc.get_threshold()[0],
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows event loops have no signal handlers; Ctrl+C still ends the process there.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await runtime.stop()


def export(settings: Settings, args: argparse.Namespace) -> int:
    header: Sequence[str]
    rows: Iterable[Sequence[object]]
    if args.what == "wishes":
        header = WISH_COLUMNS
        wishes, photos = asyncio.run(load_wishes(settings, args.municipality))
        rows = wish_rows(wishes, settings.timezone, photos)
    elif args.what == "campaigns":
        header = campaigns.CAMPAIGN_COLUMNS
        rows = asyncio.run(campaigns.campaign_rows(settings, args.municipality))
    elif args.what == "accountability":  # answers on time: bot/commands/accountability.py
        header = accountability_export.COLUMNS
        rows = asyncio.run(accountability_export.rows(settings, args.municipality))
    else:
        header, rows = (
            BRIBE_COLUMNS,
            bribe_rows(asyncio.run(load_bribes(settings, args.municipality))),
        )
    write_table(header, rows, args.format, args.output, sys.stdout)
    return 0


async def load_wishes(
    settings: Settings, municipality_key: str | None
) -> tuple[list[Wish], dict[int, int]]:
    """The wishes to export, and how many photos each came with."""
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = await admin.municipality_named(session, municipality_key)
            wishes = list(await queries.wishes_for_export(session, municipality))
            return wishes, await queries.photo_counts(session, [w.id for w in wishes])
    finally:
        await db.close()


async def load_bribes(settings: Settings, municipality_key: str | None) -> list[BribeReport]:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = await admin.municipality_named(session, municipality_key)
            return list(await queries.bribe_reports_for_export(session, municipality))
    finally:
        await db.close()


def parse_period(text: str | None, today: date) -> list[str]:
    """Months, oldest first, from "YYYY-MM" or "YYYY-MM:YYYY-MM"; default the last four."""
    if not text:
        return sorted(recent_months(today))
    first, _, last = text.partition(":")
    try:
        start = datetime.strptime(first.strip(), "%Y-%m").date()
        end = datetime.strptime((last or first).strip(), "%Y-%m").date()
    except ValueError as error:
        raise UsageError(
            f"--period must look like 2026-11 or 2026-09:2026-11, not {text!r}"
        ) from error
    if end < start or (end.year - start.year) * 12 + end.month - start.month > 36:
        raise UsageError("--period must run forward and span at most three years")
    months, cursor = [], start
    while cursor <= end:
        months.append(cursor.strftime("%Y-%m"))
        cursor = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1)
    return months


async def report_bribes(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    months = parse_period(args.period, today)
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = await admin.municipality_named(session, args.municipality)
        assert municipality is not None
        stats = await bribe_stats.collect(db, municipality, months)
    finally:
        await db.close()
    print(bribe_stats.render(stats, Catalogues(), args.lang), file=out)
    return 0


async def municipality_command(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if args.action in poll_results.MUNICIPALITY_ACTIONS:
        return await poll_results.municipality_main(settings, args, out)
    if args.action == "add":
        fields = {
            "key": args.key,
            "region": args.region,
            "code": args.code,
            "district": args.district,
            "threshold": args.threshold,
            **{f"name_{lang}": getattr(args, f"name_{lang}") for lang in LANGUAGES},
        }
        return await municipalities.add(settings, municipalities.row_from(fields), out)
    if args.action == "import":
        return await municipalities.import_file(settings, Path(args.file), out)
    return await municipalities.list_all(settings, out)


if __name__ == "__main__":
    sys.exit(main())
