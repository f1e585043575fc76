"""Operator commands on initiatives, invites and signature lists (called by bot/commands/cli.py).

Each function takes the parsed arguments, does its work in one transaction and prints a
short result; bad arguments or unknown keys raise UsageError with the one line to show.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports import signature_export
from bot.reports.export import write_table
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from handlers import initiatives, invites
from handlers.pseudonyms import Pseudonyms
from handlers.sealing import Sealer
from handlers.signatures import CODE, normalise_code
from handlers.types import deep_link
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Initiative, Invite, Municipality, utcnow

INVITE_DAYS = 14
ROLES = ("deputy", "staff", "organizer", "volunteer", "initiator")


class UsageError(Exception):
    """Bad arguments or unknown keys; the message is the one line the operator sees."""


def parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise UsageError(f"{option} must be a date like 2026-11-25, not {text!r}") from error


def today_in(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date()


async def municipality_named(session: AsyncSession, key: str | None) -> Municipality | None:
    if not key:
        return None
    municipality = await queries.municipality_by_key(session, key)
    if municipality is None:
        raise UsageError(f"unknown municipality {key!r}")
    return municipality


async def initiative_named(session: AsyncSession, code: str) -> Initiative:
    initiative = await queries.initiative_by_code(session, normalise_code(code))
    if initiative is None:
        raise UsageError(f"unknown initiative {code!r}")
    return initiative


# --- initiative add | edit | list | close ---------------------------------------------------


def add_text_options(parser: argparse.ArgumentParser) -> None:
    """--title/--summary (in --lang) and --title-ky … --summary-en: at least one title."""
    parser.add_argument("--title", metavar="TEXT", help="the title, in --lang")
    parser.add_argument("--summary", metavar="TEXT", help="a short summary, in --lang")
    parser.add_argument("--lang", choices=LANGUAGES, default="ky", help="of --title, --summary")
    for language in LANGUAGES:
        parser.add_argument(f"--title-{language}", metavar="TEXT", help=f"the title in {language}")
        parser.add_argument(
            f"--summary-{language}", metavar="TEXT", help=f"the summary in {language}"
        )
    parser.add_argument("--url", metavar="URL", help="where the full text is published")
    parser.add_argument("--registration", metavar="NUMBER", help="Ministry of Justice number")
    parser.add_argument("--opens", metavar="DATE", help="first day of signing")
    parser.add_argument("--closes", metavar="DATE", help="last day of signing")
    parser.add_argument("--threshold", type=int, metavar="N", help="signatures needed")


def _texts(args: argparse.Namespace) -> dict[str, str]:
    texts = {}
    for field in ("title", "summary"):
        for language in LANGUAGES:
            value = getattr(args, f"{field}_{language}")
            if value is None and getattr(args, field) is not None and args.lang == language:
                value = getattr(args, field)
            if value is not None:
                texts[f"{field}_{language}"] = value.strip()
    return texts


async def add_initiative(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    code = normalise_code(args.code)
    if not CODE.match(code):
        raise UsageError("the code must be 2–32 Latin letters, digits, - or _, starting a letter")
    texts = _texts(args)
    if not any(texts.get(f"title_{language}") for language in LANGUAGES):
        raise UsageError("give a title: --title TEXT (or --title-ky, --title-ru, --title-en)")
    published = parse_date(args.published, "--published")
    assert published is not None
    opens, closes = initiatives.default_window(published)
    if (args.kind == "local") != bool(args.municipality):
        raise UsageError("--municipality goes with --kind local, and only with it")
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            if await queries.initiative_by_code(session, code) is not None:
                raise UsageError(f"an initiative with the code {code} exists already")
            municipality = await municipality_named(session, args.municipality)
            charter = municipality.initiative_threshold if municipality else None
            threshold = args.threshold or charter or initiatives.default_threshold(args.kind)
            if threshold is None or threshold < 1:
                raise UsageError(
                    "a local initiative needs --threshold N, or the municipality's charter "
                    "threshold (civicbot municipality import)"
                )
            initiative = Initiative(
                code=code,
                kind=args.kind,
                published_on=published,
                opens_on=parse_date(args.opens, "--opens") or opens,
                closes_on=parse_date(args.closes, "--closes") or closes,
                threshold=threshold,
                municipality=municipality,
                url=args.url,
                registration=args.registration,
                requires_address=not args.no_address,
                signed=0,
                milestone=0,
                **texts,
            )
            _check_window(initiative)
            session.add(initiative)
        print(_line(initiative, today_in(settings)), file=out)
    finally:
        await db.close()
    return 0


async def edit_initiative(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    def edit(initiative: Initiative) -> None:
        for field, value in _texts(args).items():
            setattr(initiative, field, value or None)
        for field in ("url", "registration", "threshold"):
            if getattr(args, field) is not None:
                setattr(initiative, field, getattr(args, field))
        initiative.opens_on = parse_date(args.opens, "--opens") or initiative.opens_on
        initiative.closes_on = parse_date(args.closes, "--closes") or initiative.closes_on
        if initiative.threshold < 1:
            raise UsageError("--threshold must be at least 1")
        _check_window(initiative)

    return await _change(settings, args.code, edit, out)


def _check_window(initiative: Initiative) -> None:
    if initiative.closes_on < initiative.opens_on:
        raise UsageError("signing must close on or after the day it opens")


async def list_initiatives(settings: Settings, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            for initiative in await queries.all_initiatives(session):
                print(_line(initiative, today_in(settings)), file=out)
    finally:
        await db.close()
    return 0


async def close_initiative(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    today = today_in(settings)

    def close(initiative: Initiative) -> None:
        initiative.closed_on = initiative.closed_on or today

    return await _change(settings, args.code, close, out)


async def _change(
    settings: Settings, code: str, change: Callable[[Initiative], None], out: TextIO
) -> int:
    """Apply `change` to one initiative in a transaction; print its line."""
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            initiative = await initiative_named(session, code)
            change(initiative)
        print(_line(initiative, today_in(settings)), file=out)
    finally:
        await db.close()
    return 0


def _line(initiative: Initiative, today: date) -> str:
    place = initiative.municipality.key if initiative.municipality else "national"
    return "\t".join(
        (
            initiative.code,
            initiative.kind,
            place,
            initiatives.state(initiative, today),
            f"{initiative.signed}/{initiative.threshold}",
            f"{initiative.opens_on.isoformat()}..{initiatives.closing_day(initiative).isoformat()}",
            initiative.title("ky"),
        )
    )


# --- invite ---------------------------------------------------------------------------------------


async def invite(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if args.role == "initiator" and not args.initiative:
        raise UsageError("an initiator's invite needs --initiative CODE")
    if args.role != "initiator" and not args.municipality:
        raise UsageError(f"a {args.role}'s invite needs --municipality KEY")
    if args.days < 1:
        raise UsageError("--days must be at least 1")
    code = invites.new_code()
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            municipality = await municipality_named(session, args.municipality)
            initiative = (
                await initiative_named(session, args.initiative) if args.initiative else None
            )
            expires = utcnow() + timedelta(days=args.days)
            await queries.add_invite(
                session,
                Invite(
                    code=code,
                    role=args.role,
                    municipality_id=municipality.id if municipality else None,
                    initiative_id=initiative.id if initiative else None,
                    expires_at=expires,
                ),
            )
    finally:
        await db.close()
    username = await bot_username(settings)
    link = deep_link(username, f"inv-{code}")
    print(f"invite code: {code}", file=out)
    print(f"Telegram:    {link}", file=out)
    print(f"SMS:         JOIN {code}  (КОШУЛ {code} / ВСТУПИТЬ {code})", file=out)
    print(
        f"expires:     {expires.astimezone(ZoneInfo(settings.timezone)):%Y-%m-%d %H:%M}", file=out
    )
    return 0


async def bot_username(settings: Settings) -> str | None:
    """The bot's @name for deep links, asked of Telegram; None without a token or answer."""
    if not settings.telegram_bot_token:
        return None
    from bot.channels.telegram.bot_api import username_of  # only when Telegram is asked
    from bot.channels.telegram.errors import TelegramError

    with contextlib.suppress(TelegramError, OSError):
        return await username_of(settings)
    return None


# --- export signatures | verify-export ------------------------------------------------------------


async def export_signatures(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if not args.initiative:
        raise UsageError("export signatures needs --initiative CODE")
    sealer = Sealer(Pseudonyms.from_keys(settings.secret_keys()))
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            initiative = await initiative_named(session, args.initiative)
            signatures = await queries.signatures_for_export(session, initiative)
            rows = list(signature_export.chained_rows(initiative, signatures, sealer))
    finally:
        await db.close()
    write_table(signature_export.SIGNATURE_COLUMNS, rows, args.format, args.output, out)
    # The head goes to the operator apart from the file: given to the verification group
    # separately, it shows even a list whose chain was rewritten.
    print(
        f"{initiative.code}: {len(rows) - 1} rows, chain head {signature_export.head_of(rows)}",
        file=sys.stderr,
    )
    return 0


def verify_export(args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no such file: {args.file}")
    try:
        verified = signature_export.verify(signature_export.read_rows(path), args.head)
    except signature_export.ChainBroken as error:
        print(f"civicbot: {path.name} is NOT intact: {error}", file=sys.stderr)
        return 1
    print(
        f"{path.name}: intact; {verified.code}, {verified.rows} rows, chain head {verified.head}",
        file=out,
    )
    return 0
