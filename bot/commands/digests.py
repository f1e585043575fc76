"""`civicbot digest run|preview` and `civicbot officials list|remove`: the operator's side
of weekly digests."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.commands.admin import UsageError, bot_username, municipality_named, today_in
from bot.digests import chart, text
from bot.digests.content import collect
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers.pseudonyms import Pseudonyms
from handlers.weeks import Week
from storage import queries
from storage.db import Database
from storage.domain import LANGUAGES

if TYPE_CHECKING:
    from bot.channels.sms.channel import SmsChannel
    from bot.channels.telegram.bot_api import BotApi

log = logging.getLogger(__name__)


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    digest = commands.add_parser("digest", help="weekly digests for deputies and staff")
    actions = digest.add_subparsers(dest="action", required=True, parser_class=type(digest))
    run = actions.add_parser("run", help="plan and deliver a week's digests now")
    run.add_argument("--municipality", metavar="KEY", help="one municipality (default: all)")
    run.add_argument("--period", metavar="YYYY-Www", help="default: the last complete week")
    preview = actions.add_parser("preview", help="print a digest and write its chart")
    preview.add_argument("--municipality", metavar="KEY", required=True, help="whose digest")
    preview.add_argument("--lang", choices=LANGUAGES, default="ky", help="(ky)")
    preview.add_argument("--period", metavar="YYYY-Www", help="default: the last complete week")
    preview.add_argument("--chart", metavar="FILE", help="default: digest-KEY-WEEK.png")

    officials = commands.add_parser("officials", help="deputies and staff who get digests")
    actions = officials.add_subparsers(dest="action", required=True, parser_class=type(digest))
    listing = actions.add_parser("list", help="every deputy and staff member")
    listing.add_argument("--municipality", metavar="KEY", help="one municipality's only")
    remove = actions.add_parser("remove", help="end one role (its number from the list)")
    remove.add_argument("role_id", type=int, metavar="ID", help="the number the list shows")


async def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "officials":
        return await (list_officials if args.action == "list" else remove_official)(
            settings, args, out
        )
    week = week_asked(settings, args.period)
    if args.action == "preview":
        return await preview(settings, args, week, out)
    return await run(settings, args, week, out)


def week_asked(settings: Settings, period: str | None) -> Week:
    today = today_in(settings)
    if not period:
        return Week.last_complete(today)
    try:
        week = Week.parse(period)
    except ValueError as error:
        raise UsageError(f"--period: {error}") from None
    if week.monday > today:
        raise UsageError(f"--period: {week} has not begun yet")
    return week


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = await prepare_database(settings)
    try:
        yield db
    finally:
        await db.close()


async def run(settings: Settings, args: argparse.Namespace, week: Week, out: TextIO) -> int:
    from bot.digests.delivery import Digests, tally_line  # the channels' stacks: only to send

    catalogues = Catalogues()
    async with database(settings) as db, _channels(settings, db, catalogues) as (bot, sms):
        async with db.session() as session:
            municipality = await municipality_named(session, args.municipality)
        digests = Digests(settings, db, catalogues, bot=bot, sms=sms)
        tally = await digests.run(week, municipality)
    print(tally_line(week, tally), file=out)
    if tally.get("pending"):
        print(
            "civicbot: some digests wait: for a retry, or for a channel that is not configured "
            "(TELEGRAM_BOT_TOKEN, TWILIO_*); `civicbot serve` retries every minute",
            file=sys.stderr,
        )
    return 0


@contextlib.asynccontextmanager
async def _channels(
    settings: Settings, db: Database, catalogues: Catalogues
) -> AsyncIterator[tuple[BotApi | None, SmsChannel | None]]:
    """The Telegram bot and the SMS channel this command can send through (None: not set up
    or unreachable; those deliveries wait)."""
    from bot.channels.sms.channel import SmsChannel
    from bot.channels.sms.providers import providers_for, sms_enabled
    from bot.channels.telegram.bot_api import telegram_bot
    from bot.channels.telegram.errors import TelegramError

    async with contextlib.AsyncExitStack() as opened:
        bot: BotApi | None = None
        if settings.telegram_bot_token:
            try:  # a client that cannot start is shut down by its `async with`
                bot = await opened.enter_async_context(telegram_bot(settings))
            except (TelegramError, OSError) as error:
                print(f"civicbot: Telegram is not reachable ({error})", file=sys.stderr)
        sms = None
        if sms_enabled(settings):
            pseudonyms = Pseudonyms.from_keys(settings.secret_keys())
            provider, whatsapp = providers_for(settings)
            sms = SmsChannel(settings, db, catalogues, pseudonyms, provider, whatsapp=whatsapp)
            opened.push_async_callback(sms.close)
        yield bot, sms


async def preview(settings: Settings, args: argparse.Namespace, week: Week, out: TextIO) -> int:
    catalogues = Catalogues()
    async with database(settings) as db, db.session() as session:
        municipality = await municipality_named(session, args.municipality)
        assert municipality is not None
        digest = await collect(
            session, municipality, week, settings.timezone, today_in(settings),
            settings.appeal_answer_days,
        )  # fmt: skip
    print(text.render(digest, catalogues, args.lang, await bot_username(settings)), file=out)
    picture = chart.draw(digest, catalogues, args.lang)
    if picture is None and args.chart:  # asked for a file that would not come: say so, fail
        print(f"civicbot: a quiet week ({week}): nothing to chart, {args.chart} not written",
              file=sys.stderr)  # fmt: skip
        return 1
    if picture is None:
        print("civicbot: a quiet week, no chart", file=sys.stderr)
        return 0
    path = Path(args.chart or f"digest-{municipality.key}-{week}.png")
    await asyncio.to_thread(path.write_bytes, picture)
    print(f"chart: {path}", file=sys.stderr)
    return 0


async def list_officials(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    async with database(settings) as db, db.session() as session:
        municipality = await municipality_named(session, args.municipality)
        roles = await queries.officials(session, municipality.id if municipality else None)
        places = {m.id: m.key for m in await queries.all_municipalities(session)}
    print("id\trole\tmunicipality\tchannel\tcontact\tlanguage\tsince\tstate", file=out)
    for role in roles:
        person = role.person
        state = "opted out" if person.opted_out else "active"
        since = f"{role.created_at:%Y-%m-%d}"
        print(
            f"{role.id}\t{role.role}\t{places.get(role.municipality_id or 0, '-')}\t"
            f"{person.channel}\t{person.channel_user_id}\t{person.language}\t{since}\t{state}",
            file=out,
        )
    return 0


async def remove_official(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    async with database(settings) as db, db.session() as session, session.begin():
        role = await queries.remove_role(session, args.role_id)
        if role is None or role.role not in queries.OFFICIAL_ROLES:
            raise UsageError(f"no deputy or staff role {args.role_id}; see `officials list`")
    print(f"removed: {role.role} {role.id} (no more digests for that place)", file=out)
    return 0
