"""`civicbot audit [--municipality KEY] [--since DATE] [--limit N]`: what staff and deputies
did at the console (and wherever else an action is recorded), newest first — who (their
role and person number, an official, never a resident), what, when, and to what."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, time
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.commands.admin import UsageError, municipality_named
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from storage import queries
from storage.queries import audit

MAX_LIMIT = 10_000


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    found = commands.add_parser("audit", help="what officials did at the console, newest first")
    found.add_argument("--municipality", metavar="KEY", help="one municipality's only")
    found.add_argument("--since", metavar="YYYY-MM-DD", help="from this day on (TIMEZONE)")
    found.add_argument("--limit", metavar="N", type=int, default=100, help="(100)")


def _since(settings: Settings, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since: {text!r} is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day, time(), ZoneInfo(settings.timezone))


async def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit: from 1 to {MAX_LIMIT}")
    since = _since(settings, args.since)
    zone = ZoneInfo(settings.timezone)
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            place = await municipality_named(session, args.municipality)
            found = await audit.entries(session, place.id if place else None, since, args.limit)
            keys = {m.id: m.key for m in await queries.all_municipalities(session)}
    finally:
        await db.close()
    for entry, role in found:
        who = f"{role or 'official'} #{entry.person_id}" if entry.person_id else "(removed)"
        what = f"{entry.action} {entry.subject}" if entry.subject else entry.action
        detail = (
            json.dumps(entry.detail, ensure_ascii=False, sort_keys=True) if entry.detail else ""
        )
        when = entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        place_key = keys.get(entry.municipality_id or 0, "-")
        print("\t".join((when, place_key, who, what, entry.via, detail)).rstrip(), file=out)
    if not found:
        print("no entries", file=out)
    return 0
