"""The operator's polls: `civicbot poll add|list|send|close` (`results` is the results'
own), and `civicbot budget`, the same commands with a budget round by default.

`send` shows who the poll reaches, by channel, and what its SMS cost; with --yes it plans one
row per recipient, which the running server sends (bot/channels/poll_sender.py)."""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import poll_results
from bot.commands.admin import UsageError, municipality_named
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers import ballots
from handlers.poll_costs import Cost, paid_channels, preview
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Poll, utcnow
from storage.queries.poll_sends import Audience

OPTIONS = (2, 9)  # fewest and most options a poll has
LABEL_LENGTH = 200  # PollOption.label_*


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    for name, help_text in (
        ("poll", "polls and priority votes of a municipality's residents"),
        ("budget", "participatory budget rounds (polls of --kind budget)"),
    ):
        group = commands.add_parser(name, help=help_text)
        actions = group.add_subparsers(dest="action", required=True, parser_class=type(group))
        _add_parser(actions, budget=name == "budget")
        listing = actions.add_parser("list", help="every poll, its status and sending")
        listing.add_argument("--municipality", metavar="KEY", help="only this municipality's")
        send = actions.add_parser("send", help="who it reaches and the SMS cost; --yes sends")
        send.add_argument("code", metavar="CODE", help="the poll's code")
        send.add_argument("--yes", action="store_true", help="send it (without: only show)")
        close = actions.add_parser("close", help="stop taking answers now")
        close.add_argument("code", metavar="CODE", help="the poll's code")
        poll_results.add_results_parser(actions)
        if name == "budget":
            poll_results.add_progress_parser(actions)


def _add_parser(actions: argparse._SubParsersAction[Any], budget: bool) -> None:
    add = actions.add_parser("add", help="a new poll (not sent yet: see send); prints its code")
    add.add_argument("--municipality", metavar="KEY", required=True, help="whose residents")
    for language in LANGUAGES:
        add.add_argument(
            f"--question-{language}",
            metavar="TEXT",
            required=language == "ky",
            help=f"the question in {language}" + (" (required)" if language == "ky" else ""),
        )
        add.add_argument(
            f"--option-{language}",
            metavar="TEXT",
            action="append",
            default=[],
            help=f"an option in {language}, 2–9 times"
            + (" (required)" if language == "ky" else ", in --option-ky's order"),
        )
    add.add_argument(
        "--kind", choices=ballots.KINDS, default="budget" if budget else "single", help="(single)"
    )
    add.add_argument("--max-choices", type=int, metavar="N", help="a priority vote: up to N")
    add.add_argument("--budget-total", type=int, metavar="SOM", help="a budget round's total")
    add.add_argument(
        "--cost", type=int, metavar="N", action="append", default=[], help="per option, in order"
    )
    add.add_argument("--villages", metavar="N,N", help="only these villages (their numbers)")
    add.add_argument("--opens", metavar="DATETIME", help="when answers start (now)")
    add.add_argument(
        "--closes", metavar="DATE|DATETIME", required=True, help="a day: open until its end"
    )
    add.add_argument("--sms-cap", type=int, metavar="N", help="SMS messages at most")


async def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "add":
        return await add(settings, args, out)
    if args.action == "send":
        return await send(settings, args.code, args.yes, out)
    if args.action == "close":
        return await close(settings, args.code, out)
    if args.action == "results":
        return await poll_results.results(settings, args, out)
    if args.action == "progress":
        return await poll_results.progress(settings, args, out)
    return await list_polls(settings, args.municipality, out)


# --- add ---------------------------------------------------------------------------------------


def parse_moment(text: str, option: str, zone: str, end_of_day: bool = False) -> datetime:
    """A date (its start, or with `end_of_day` the next day's start) or a date and time, in
    TIMEZONE unless it says its own offset."""
    tz = ZoneInfo(zone)
    # A day first, in any form ISO allows ("2026-12-20", "20261220"): datetime.fromisoformat
    # also reads "20261220", as that day's start, and would close a day early.
    try:
        day = date.fromisoformat(text.strip())
        moment = datetime.combine(day + timedelta(days=end_of_day), time(), tz)
    except ValueError:
        day = None
    try:
        if day is None:
            moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise UsageError(
            f"{option} must be a date or a date and time like 2026-12-20 or 2026-12-20T18:00, "
            f"not {text!r}"
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _options(args: argparse.Namespace) -> list[dict[str, object]]:
    labels = {language: getattr(args, f"option_{language}") for language in LANGUAGES}
    count = len(labels["ky"])
    if not OPTIONS[0] <= count <= OPTIONS[1]:
        raise UsageError(f"give 2–9 options (--option-ky TEXT, once each), not {count}")
    for language in ("ru", "en"):
        if labels[language] and len(labels[language]) != count:
            raise UsageError(f"--option-{language} must come {count} times, as --option-ky does")
    costs = args.cost
    if args.kind == "budget" and len(costs) != count:
        raise UsageError(f"a budget round needs --cost N for each of its {count} items, in order")
    if args.kind != "budget" and costs:
        raise UsageError("--cost goes with --kind budget only")
    if any(cost <= 0 for cost in costs):
        raise UsageError("every --cost must be a positive sum in som")
    options: list[dict[str, object]] = []
    for index in range(count):
        option: dict[str, object] = {}
        for language, given in labels.items():
            if given:
                text = " ".join(given[index].split())
                if not 0 < len(text) <= LABEL_LENGTH:
                    raise UsageError(f"every option must be 1–{LABEL_LENGTH} characters")
                option[f"label_{language}"] = text
        if costs:
            option["cost"] = costs[index]
        options.append(option)
    return options


def _kind_fields(args: argparse.Namespace, options: int) -> dict[str, object]:
    if args.kind == "single":
        if args.max_choices not in (None, 1) or args.budget_total is not None:
            raise UsageError("a single-choice poll takes neither --max-choices nor --budget-total")
        return {"kind": "single", "max_choices": 1}
    if args.kind == "priority":
        choices = args.max_choices or 3
        if not 1 < choices < options or args.budget_total is not None:
            raise UsageError(f"a priority vote takes --max-choices 2–{options - 1} (3)")
        return {"kind": "priority", "max_choices": choices}
    if args.budget_total is None or args.budget_total <= 0:
        raise UsageError("a budget round needs --budget-total SOM, a positive sum")
    if args.max_choices is not None and not 0 < args.max_choices <= options:
        raise UsageError(f"--max-choices of a budget round is 1–{options}")
    return {
        "kind": "budget",
        "budget_total": args.budget_total,
        "max_choices": args.max_choices or options,
    }


async def _village_ids(
    session: AsyncSession, municipality_id: int, given: str | None
) -> list[int] | None:
    if not given:
        return None
    villages = {v.position: v.id for v in await queries.villages_of(session, municipality_id)}
    try:
        numbers = [int(part) for part in given.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--villages takes village numbers, like 1,3, not {given!r}") from None
    unknown = [n for n in numbers if n not in villages]
    if unknown or not numbers:
        listed = ", ".join(map(str, sorted(villages))) or "none"
        raise UsageError(f"no village {unknown or given} here (its villages: {listed})")
    return [villages[n] for n in dict.fromkeys(numbers)]


async def add(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    question = {
        language: " ".join(text.split())
        for language in LANGUAGES
        if (text := getattr(args, f"question_{language}"))
    }
    if not question.get("ky"):
        raise UsageError("the question in Kyrgyz is required: --question-ky TEXT")
    options = _options(args)
    fields = _kind_fields(args, len(options))
    now = utcnow()
    opens = parse_moment(args.opens, "--opens", settings.timezone) if args.opens else now
    closes = parse_moment(args.closes, "--closes", settings.timezone, end_of_day=True)
    if closes <= max(opens, now):
        raise UsageError("--closes must come after --opens and after now")
    if args.sms_cap is not None and args.sms_cap < 0:
        raise UsageError("--sms-cap is a number of messages, 0 or more")
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            municipality = await municipality_named(session, args.municipality)
            assert municipality is not None
            villages = await _village_ids(session, municipality.id, args.villages)
            poll = await queries.add_poll(
                session,
                municipality.id,
                question,
                options,
                closes,
                opens_at=opens,
                villages=villages,
                sms_cap=args.sms_cap,
                status="draft",
                **fields,
            )
        print(
            f"{poll.code}: {fields['kind']}, {municipality.key}, closes {closes:%Y-%m-%d %H:%M}"
            f" ({settings.timezone}); send it with `civicbot poll send {poll.code}`",
            file=out,
        )
    finally:
        await db.close()
    return 0


# --- list, close -------------------------------------------------------------------------------


async def list_polls(settings: Settings, key: str | None, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            municipality = await municipality_named(session, key)
            polls = await queries.polls_of(session, [municipality.id] if municipality else None)
            progress = await queries.progress_of(session, [p.id for p in polls])
            for poll in polls:
                sending = progress[poll.id].line() if progress[poll.id].planned else "not sent"
                print(
                    f"{poll.code}\t{poll.municipality.key}\t{poll.kind}\t{poll.status}"
                    f"\tcloses {_local(poll.closes_at, settings):%Y-%m-%d %H:%M}\t{sending}"
                    f"\t{poll.question_ky}",
                    file=out,
                )
    finally:
        await db.close()
    return 0


def _local(moment: datetime, settings: Settings) -> datetime:
    return moment.astimezone(ZoneInfo(settings.timezone))


async def close(settings: Settings, code: str, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            poll = await poll_named(session, code)
            if poll.status == "closed":
                raise UsageError(f"poll {poll.code} is closed already")
            poll.status, poll.closed_at = "closed", utcnow()
        print(f"{poll.code}: closed", file=out)
    finally:
        await db.close()
    return 0


async def poll_named(session: AsyncSession, code: str) -> Poll:
    poll = await queries.poll_by_code(session, code)
    if poll is None:
        raise UsageError(f"unknown poll {code!r}")
    return poll


# --- send --------------------------------------------------------------------------------------


def audience_lines(audience: Audience, cost: Cost) -> list[str]:
    channels = ", ".join(f"{name} {count}" for name, count in sorted(audience.by_channel.items()))
    lines = [f"audience: {audience.total} ({channels or 'nobody'})"]
    if audience.no_village:
        lines.append(f"left out: {audience.no_village} with no known village")
    lines.append(cost.line())
    return lines


async def send(settings: Settings, code: str, yes: bool, out: TextIO) -> int:
    from bot.channels import poll_message  # the channels' stack only for the command that needs it

    catalogues = Catalogues()
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            poll = await poll_named(session, code)
            now = utcnow()
            if poll.status == "closed" or poll.closes_at <= now:
                raise UsageError(f"poll {poll.code} is closed: nothing to send")
            options = await queries.options_of(session, poll.id)
            audience = await queries.audience_of(session, poll)
            paid = paid_channels(bool(settings.twilio_whatsapp_content_sid))
            segments = poll_message.segments_of(catalogues)
            cost = preview(audience, poll, options, paid, settings.sms_price, segments)
            for line in audience_lines(audience, cost):
                print(f"{poll.code}: {line}", file=out)
            if not yes:
                print(
                    f"{poll.code}: not sent; to send it: civicbot poll send {poll.code} --yes",
                    file=out,
                )
                return 0
            planned, over = await queries.plan_sends(session, poll, paid, now)
            poll.status = "open"
            poll.sent_at = poll.sent_at or now
        print(
            f"{poll.code}: open; {planned} to send ({over} past the SMS cap), sent by the "
            "running server (civicbot serve)",
            file=out,
        )
    finally:
        await db.close()
    return 0
