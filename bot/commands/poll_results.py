"""The operator's commands for polls' outcomes and the figures they are weighed by:
`civicbot poll results CODE`, `civicbot budget progress CODE ITEM TEXT`, and a municipality's
villages and populations (`civicbot municipality villages|village-add|population`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands.admin import UsageError, municipality_named
from bot.reports import poll_results as report
from bot.reports.export import write_table
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers import poll_outcome, poll_results
from handlers.pseudonyms import Pseudonyms
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Municipality, Poll

MUNICIPALITY_ACTIONS = ("villages", "village-add", "population")
MAX_POPULATION = 10_000_000


def add_municipality_parsers(places: argparse._SubParsersAction[Any]) -> None:
    """`municipality villages|village-add|population`, beside list, add and import."""
    listed = places.add_parser("villages", help="a municipality's villages, numbered")
    listed.add_argument("key", metavar="KEY", help="the municipality's key")
    village = places.add_parser("village-add", help="add a village at the end of the list")
    village.add_argument("key", metavar="KEY", help="the municipality's key")
    village.add_argument("--name-ky", metavar="NAME", required=True, help="its name in ky")
    for language in LANGUAGES[1:]:
        village.add_argument(
            f"--name-{language}", metavar="NAME", help=f"its name in {language} (default: ky's)"
        )
    village.add_argument("--population", metavar="N", help="people living there, if known")
    population = places.add_parser(
        "population", help="set how many people live in a municipality or one of its villages"
    )
    population.add_argument("key", metavar="KEY", help="the municipality's key")
    population.add_argument("number", metavar="N", help="people living there")
    population.add_argument("--village", metavar="N", help="the village's number (villages)")


def add_results_parser(actions: argparse._SubParsersAction[Any]) -> None:
    """`poll results` and `budget results` (for the module that makes those groups)."""
    results = actions.add_parser("results", help="a poll's results: aggregates only")
    results.add_argument("code", metavar="CODE", help="the poll's code")
    results.add_argument("--format", choices=["text", "csv"], default="text", help="(text)")
    results.add_argument("--lang", choices=LANGUAGES, default="en", help="(en)")
    results.add_argument("--output", metavar="FILE", help="write here (default: standard output)")


def add_progress_parser(actions: argparse._SubParsersAction[Any]) -> None:
    """`budget progress` (for the module that makes the `budget` group)."""
    progress = actions.add_parser(
        "progress", help="say how far a funded item got: everyone who voted hears it"
    )
    progress.add_argument("code", metavar="CODE", help="the budget round's code")
    progress.add_argument("item", metavar="ITEM", help="the item's number")
    progress.add_argument("text", metavar="TEXT", help="what was done, as residents will read it")


async def _poll(session: AsyncSession, code: str) -> Poll:
    poll = await queries.poll_by_code(session, code)
    if poll is None:
        raise UsageError(f"unknown poll {code!r}")
    return poll


async def results(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            poll = await _poll(session, args.code)
            if args.format == "text":
                reply = await poll_results.results_reply(session, poll, args.lang)
                text = Catalogues().reply(args.lang, reply, separator="\n")
            else:
                options, tally = await poll_results.tally_of(session, poll)
                villages = await queries.villages_of(session, poll.municipality_id)
                table = list(report.rows(poll, options, tally, villages, args.lang))
    finally:
        await db.close()
    if args.format == "csv":
        write_table(report.COLUMNS, table, "csv", args.output, out)
    else:
        _write_text(text, args.output, out)
    return 0


def _write_text(text: str, output: str | None, out: TextIO) -> None:
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text, file=out)


# What `budget progress` says where the bot says poll_outcome.progress_refusal's keys.
REFUSALS = {
    poll_outcome.NOT_A_ROUND: "poll {code} is not a budget round",
    poll_outcome.STILL_OPEN: "budget round {code} is still open: nothing is funded yet",
    poll_outcome.NOT_COUNTED: "budget round {code} is closed but not counted yet",
    poll_outcome.NO_ITEM: "budget round {code} has no item {item!r}",
    poll_outcome.NOT_FUNDED: "item {item} of {code} was not funded",
}


async def progress(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """A funded item's progress, stored and sent to everyone who voted in the round."""
    if not args.text.strip():
        raise UsageError("TEXT is empty")
    pseudonyms = Pseudonyms.from_keys(settings.secret_keys())
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            poll = await _poll(session, args.code)
            why, told = await poll_outcome.mark_progress(
                session, pseudonyms, poll, args.item, args.text
            )
            if why is not None:
                raise UsageError(REFUSALS[why].format(code=poll.code, item=args.item.strip()))
    finally:
        await db.close()
    print(
        f"{poll.code} item {args.item.strip()}: progress saved; {told} people will hear it",
        file=out,
    )
    return 0


async def municipality_main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            place = await municipality_named(session, args.key)
            assert place is not None
            if args.action == "villages":
                await _list(session, place, out)
            elif args.action == "village-add":
                names = {language: getattr(args, f"name_{language}") for language in LANGUAGES}
                if not (names["ky"] or "").strip():
                    raise UsageError("--name-ky is empty")
                number = _number(args.population, "--population")
                clean = {k: v.strip() for k, v in names.items() if v and v.strip()}
                village = await queries.add_village(session, place.id, clean, number)
                print(f"{place.key} village {village.position}: {village.name_ky}", file=out)
            else:
                await _population(session, place, args, out)
    finally:
        await db.close()
    return 0


async def _list(session: AsyncSession, place: Municipality, out: TextIO) -> None:
    shown = place.population if place.population is not None else "?"
    print(f"{place.key}\tpopulation {shown}", file=out)
    for village in await queries.villages_of(session, place.id):
        known = village.population if village.population is not None else "?"
        print(f"{village.position}\t{village.name_ky}\t{village.name_ru}\t{known}", file=out)


async def _population(
    session: AsyncSession, place: Municipality, args: argparse.Namespace, out: TextIO
) -> None:
    number = _number(args.number, "N")
    if args.village is None:
        place.population = number
        print(f"{place.key}: population {number}", file=out)
        return
    villages = await queries.villages_of(session, place.id)
    village = next((v for v in villages if str(v.position) == args.village.strip()), None)
    if village is None:
        raise UsageError(
            f"{place.key} has no village {args.village!r} (`civicbot municipality villages "
            f"{place.key}` lists them)"
        )
    village.population = number
    print(
        f"{place.key} village {village.position} ({village.name_ky}): population {number}", file=out
    )


def _number(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit() or not 0 < int(text) <= MAX_POPULATION:
        raise UsageError(f"{name} must be a whole number from 1 to {MAX_POPULATION}, not {text!r}")
    return int(text)
