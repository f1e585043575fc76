"""The operator's street campaigns: `civicbot campaign add|list|close|poster`.

A campaign belongs to one municipality and runs from its first to its last day (or until it
is closed); its code is what its link (/start c-CODE) and its SMS tag (#CODE) carry.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands.admin import UsageError, municipality_named, parse_date, today_in
from bot.reports import poster
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from handlers.campaigns import CODE
from storage import queries
from storage.models import Campaign


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    campaign = commands.add_parser("campaign", help="youth groups' street campaigns")
    actions = campaign.add_subparsers(dest="action", required=True, parser_class=type(campaign))
    add = actions.add_parser("add", help="a new campaign: its link, poster and SMS tag")
    add.add_argument("code", metavar="CODE", help="2–32 Latin letters, digits, - or _ (NARYN25)")
    add.add_argument("--municipality", metavar="KEY", required=True, help="where it runs")
    add.add_argument("--name", metavar="TEXT", required=True, help="as residents will see it")
    add.add_argument("--starts", metavar="YYYY-MM-DD", required=True, help="its first day")
    add.add_argument("--ends", metavar="YYYY-MM-DD", required=True, help="its last day")
    add.add_argument(
        "--kinds",
        choices=["change,great", "change", "great"],
        default="change,great",
        help="the cards its stand takes (both)",
    )
    actions.add_parser("list", help="every campaign, its days and the wishes it brought")
    close = actions.add_parser("close", help="end a campaign today")
    close.add_argument("code", metavar="CODE", help="the campaign's code")
    make = actions.add_parser("poster", help="write the campaign's poster (PNG and PDF)")
    make.add_argument("code", metavar="CODE", help="the campaign's code")
    make.add_argument("--output", metavar="FILE.png", help="default: poster-CODE.png")
    make.add_argument("--pdf", metavar="FILE.pdf", help="default: beside the PNG")
    make.add_argument(
        "--bot",
        metavar="NAME",
        help="the bot's username as @BotFather gave it (default: asked of Telegram with "
        "TELEGRAM_BOT_TOKEN; without a token, give it)",
    )
    make.add_argument(
        "--sms", metavar="NUMBER", help="the SMS number to show (default: TWILIO_FROM_NUMBER)"
    )


async def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "add":
        return await add(settings, args, out)
    if args.action == "close":
        return await close(settings, args.code, out)
    if args.action == "poster":
        return await write_poster(settings, args, out)
    return await list_all(settings, out)


async def add(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    code = args.code.strip().upper()
    if not CODE.match(code):
        raise UsageError("the code must be 2–32 Latin letters, digits, - or _, starting a letter")
    starts, ends = parse_date(args.starts, "--starts"), parse_date(args.ends, "--ends")
    assert starts is not None and ends is not None
    if ends < starts:
        raise UsageError("--ends comes before --starts")
    if ends < today_in(settings):
        raise UsageError("--ends is in the past: the campaign would never run")
    name = " ".join(args.name.split())
    if not name or len(name) > 200:
        raise UsageError("--name must be 1–200 characters")
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            if await queries.campaign_by_code(session, code) is not None:
                raise UsageError(f"a campaign with the code {code} exists already")
            municipality = await municipality_named(session, args.municipality)
            assert municipality is not None
            campaign = Campaign(
                code=code,
                municipality_id=municipality.id,
                name=name,
                starts_on=starts,
                ends_on=ends,
                kinds=args.kinds,
            )
            session.add(campaign)
        print(f"{code}: {municipality.key}, {starts} – {ends}, link /start c-{code}", file=out)
    finally:
        await db.close()
    return 0


async def list_all(settings: Settings, out: TextIO) -> int:
    today = today_in(settings)
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            for campaign in await queries.all_campaigns(session):
                counts = await queries.campaign_wish_counts(session, campaign.id)
                state = _state(campaign, today)
                print(
                    f"{campaign.code}\t{campaign.municipality.key}\t{campaign.starts_on}"
                    f"\t{campaign.ends_on}\t{state}\tchange {counts.get('change', 0)}"
                    f"\tgreat {counts.get('great', 0)}\t{campaign.name}",
                    file=out,
                )
    finally:
        await db.close()
    return 0


def _state(campaign: Campaign, today: date) -> str:
    if campaign.closed_on is not None:
        return "closed"
    if campaign.running(today):
        return "running"
    return "upcoming" if campaign.starts_on > today else "ended"


async def close(settings: Settings, code: str, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            campaign = await _named(session, code)
            if campaign.closed_on is not None:
                raise UsageError(f"{campaign.code} was closed on {campaign.closed_on}")
            campaign.closed_on = today_in(settings)
        print(f"{campaign.code}: closed", file=out)
    finally:
        await db.close()
    return 0


async def write_poster(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            campaign = await _named(session, args.code)
    finally:
        await db.close()
    username = bot_named(args.bot) if args.bot else await _bot_username(settings)
    number = args.sms or settings.twilio_from_number
    made = poster.make(campaign, username, number)
    png = Path(args.output or f"poster-{campaign.code}.png")
    pdf = Path(args.pdf) if args.pdf else png.with_suffix(".pdf")
    await asyncio.to_thread(_write, made, png, pdf)  # drawing an A4 page takes a moment
    print(f"{png} and {pdf}: {made.link}", file=out)
    if not number:
        print("civicbot: no SMS number (TWILIO_FROM_NUMBER or --sms): left out", file=sys.stderr)
    return 0


def _write(made: poster.Poster, png: Path, pdf: Path) -> None:
    page = made.page()
    png.write_bytes(poster.encode(page, "PNG"))
    pdf.write_bytes(poster.encode(page, "PDF"))


async def _named(session: AsyncSession, code: str) -> Campaign:
    campaign = await queries.campaign_by_code(session, code)
    if campaign is None:
        raise UsageError(f"unknown campaign {code!r}")
    return campaign


# A bot's username as people copy it: name, @name, t.me/name or https://t.me/name. Telegram's
# usernames are 5–32 Latin letters, digits and _, and a bot's ends in "bot".
BOT_USERNAME = re.compile(r"(?:@|(?:https?://)?t\.me/)?([A-Za-z][A-Za-z0-9_]{3,31})/?")
BOT_EXAMPLE = "naryn_civic_bot, @naryn_civic_bot or t.me/naryn_civic_bot"


def bot_named(given: str) -> str:
    """The username in --bot; UsageError for what cannot be a bot's."""
    match = BOT_USERNAME.fullmatch(given.strip())
    if match is None or not match.group(1).lower().endswith("bot"):
        raise UsageError(
            f"--bot takes the bot's username as @BotFather gave it ({BOT_EXAMPLE}), not {given!r}"
        )
    return match.group(1)


async def _bot_username(settings: Settings) -> str:
    """The bot's @name, from Telegram (getMe)."""
    if not settings.telegram_bot_token:
        raise UsageError(
            "the poster's QR code opens the bot: give its username as @BotFather gave it, "
            f"--bot NAME ({BOT_EXAMPLE}), or set TELEGRAM_BOT_TOKEN so that Telegram is asked"
        )
    from bot.channels.telegram.bot_api import username_of  # only when Telegram is asked
    from bot.channels.telegram.errors import TelegramError

    try:
        return await username_of(settings)
    except (TelegramError, OSError) as error:
        raise UsageError(
            f"Telegram did not say the bot's name ({error}); give --bot NAME"
        ) from None


CAMPAIGN_COLUMNS = (
    "code",
    "municipality",
    "name",
    "starts_on",
    "ends_on",
    "state",
    "cards_change",
    "cards_great",
    "online_change",
    "online_great",
    "people_reached",
)


async def campaign_rows(
    settings: Settings, municipality_key: str | None
) -> list[tuple[object, ...]]:
    """One row per campaign with what it brought (`civicbot export campaigns`)."""
    today = today_in(settings)
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = await municipality_named(session, municipality_key)
            rows: list[tuple[object, ...]] = []
            for campaign in await queries.all_campaigns(session):
                if municipality is not None and campaign.municipality_id != municipality.id:
                    continue
                tally = await queries.campaign_tally(session, campaign.id)
                rows.append(
                    (
                        campaign.code,
                        campaign.municipality.key,
                        campaign.name,
                        campaign.starts_on.isoformat(),
                        campaign.ends_on.isoformat(),
                        _state(campaign, today),
                        tally.get("card:change", 0),
                        tally.get("card:great", 0),
                        tally.get("online:change", 0),
                        tally.get("online:great", 0),
                        tally["people"],
                    )
                )
            return rows
    finally:
        await db.close()
