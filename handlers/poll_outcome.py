"""A closed poll's outcome: a budget round's funded items stored, the results sent once to
everyone who answered (found by computing each resident's key, never by a stored link), and
staff's word on a funded item's progress sent to everyone who voted.

The notices say what most people said, never what the person chose, and each is deleted
once sent (FORGOTTEN_ONCE_SENT): no row is left that lists who answered (docs/decisions.md)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import ballots
from handlers.context import Context
from handlers.poll_results import SHORT_LABEL, Tally, closed, tally_of
from handlers.pseudonyms import Pseudonyms
from handlers.quotes import sms_cut
from handlers.types import Reply, say
from storage import queries
from storage.channels import PAID_PER_MESSAGE, REACHABLE
from storage.db import Database
from storage.models import Person, Poll, PollOption

log = logging.getLogger(__name__)


def final_values(
    poll: Poll, options: Sequence[PollOption], tally: Tally, language: str, short: bool = False
) -> dict[str, object]:
    """What the notice to a person who answered says, in their language: the question they
    answered and what most said (never what they chose, though the notice is soon deleted);
    `short`: the option's label cut to fit one SMS."""
    leading = tally.leading()
    label = options[leading - 1].label(language) if leading else ""
    return {
        "code": poll.code,
        "question": poll.question(language),
        "total": tally.total,
        "percent": tally.percent(leading) if leading else 0,
        "label": sms_cut(label, SHORT_LABEL) if short else label,
    }


# --- the results to everyone who answered --------------------------------------------------

FINAL = "poll_results.final"  # the notices' catalogue keys
BUDGET_FINAL = "budget.final"
PROGRESS = "budget.progress"
# One of these per person who answered: kept after it went, they would list who answered
# each poll. Deleted once sent or given up (bot/channels/notices.py), never marked sent.
FORGOTTEN_ONCE_SENT = frozenset({FINAL, BUDGET_FINAL, PROGRESS})


async def participants(
    session: AsyncSession, pseudonyms: Pseudonyms, poll: Poll
) -> AsyncIterator[Person]:
    """The people who answered the poll and can be told, found by computing each of the
    municipality's people's key and looking it up among the answers' (nothing stored joins
    the two)."""
    answered = await queries.voter_keys(session, poll.id)
    if not answered:
        return
    async for batch in queries.people_of(session, poll.municipality_id):
        for person in batch:
            if person.channel not in REACHABLE:  # the web chat: no one to tell once it is shut
                continue
            keys = pseudonyms.every(ballots.VOTER, str(poll.id), str(person.id))
            if any(key in answered for key in keys):
                yield person


async def close_results(session: AsyncSession, pseudonyms: Pseudonyms, poll: Poll) -> int:
    """A closed poll's outcome, once: a budget round's funded items stored, and a notice to
    each person who answered, in their language; how many were written."""
    options, tally = await tally_of(session, poll)
    if poll.kind == ballots.BUDGET:
        votes = {p: tally.counts[p - 1] for p in range(1, tally.options + 1)}
        funded = ballots.funded(options, votes, poll.budget_total or 0)
        await queries.mark_funded(session, poll.id, funded)
        for option in options:
            option.funded = option.position in funded
    written = 0
    async for person in participants(session, pseudonyms, poll):
        language = person.language
        if poll.kind == ballots.BUDGET:
            values = budget_values(poll, options, language)
            await queries.add_notice(session, person.id, BUDGET_FINAL, values)
        else:
            short = person.channel in PAID_PER_MESSAGE
            values = final_values(poll, options, tally, language, short)
            await queries.add_notice(session, person.id, FINAL, values)
        written += 1
    return written


def budget_values(poll: Poll, options: Sequence[PollOption], language: str) -> dict[str, object]:
    funded = [o for o in options if o.funded]
    return {
        "code": poll.code,
        "question": poll.question(language),
        "items": "; ".join(o.label(language) for o in funded) or "—",
        "numbers": " ".join(str(o.position) for o in funded) or "—",
        "spent": sum(o.cost or 0 for o in funded),
        "budget": poll.budget_total or 0,
    }


async def tell_progress(
    session: AsyncSession, pseudonyms: Pseudonyms, poll: Poll, option: PollOption
) -> int:
    """Staff's word on a funded item's progress, to everyone who took part in the round."""
    told = 0
    async for person in participants(session, pseudonyms, poll):
        language = person.language
        values: dict[str, object] = {
            "code": poll.code,
            "item": _cut(option.label(language), person, SHORT_LABEL),
            "progress": _cut(option.progress or "", person, PROGRESS_IN_SMS),
        }
        await queries.add_notice(session, person.id, PROGRESS, values)
        told += 1
    return told


async def send_due(db: Database, pseudonyms: Pseudonyms, now: datetime) -> int:
    """Every poll closed since the last look, each in a transaction of its own with its
    notices: claimed, and so sent, by one worker only. How many polls. One that fails is
    left for the next look, and the others go on (it does not hold them back)."""
    done, failed = 0, set[int]()
    while True:
        failing: int | None = None
        try:
            async with db.session() as session, session.begin():
                claimed = await queries.claim_results_due(session, now, limit=1, skip=failed)
                for poll in claimed:
                    failing = poll.id
                    told = await close_results(session, pseudonyms, poll)
                    log.info("poll %s closed: its results go to %d people", poll.code, told)
        except Exception:
            if failing is None:  # not one poll's trouble (the database): the job's
                raise
            log.exception("poll %d's results could not be sent; tried again later", failing)
            failed.add(failing)
            continue
        if not claimed:
            return done
        done += len(claimed)


def _cut(text: str, person: Person, limit: int) -> str:
    """A label or staff's word as a person reads it in a notice: cut short where each
    message is paid for (SMS), whole elsewhere."""
    return sms_cut(text, limit) if person.channel in PAID_PER_MESSAGE else text


# --- a funded item's progress, from staff ---------------------------------------------------

NOT_A_ROUND = "budget.not_a_round"  # why progress cannot be marked: catalogue keys
STILL_OPEN = "budget.still_open"
NOT_COUNTED = "budget.not_counted"  # closed, but the results job has not stored `funded` yet
NO_ITEM = "budget.no_item"
NOT_FUNDED = "budget.item_not_funded"
PROGRESS_LENGTH = 500  # characters of staff's word on an item
# Of which an SMS carries these: two segments in Cyrillic with the item's name, not eight,
# for each of the round's participants (the whole word is on the public page).
PROGRESS_IN_SMS = 80
_PROGRESS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\S.*)$", re.DOTALL)


def progress_refusal(poll: Poll, option: PollOption | None) -> str | None:
    """Why a progress cannot be marked on this item of this poll, or None if it can."""
    if poll.kind != ballots.BUDGET:
        return NOT_A_ROUND
    if not closed(poll):
        return STILL_OPEN
    if poll.results_sent_at is None:
        return NOT_COUNTED
    if option is None:
        return NO_ITEM
    return None if option.funded else NOT_FUNDED


async def mark_progress(
    session: AsyncSession, pseudonyms: Pseudonyms, poll: Poll, item: str, text: str
) -> tuple[str | None, int]:
    """Staff's word on a funded item, kept and sent to everyone who voted in the round:
    (why not, None if done; how many will hear it)."""
    options = await queries.options_of(session, poll.id)
    option = next((o for o in options if str(o.position) == item.strip()), None)
    why = progress_refusal(poll, option)
    if why is not None or option is None:
        return why, 0
    option.progress = text.strip()[:PROGRESS_LENGTH]
    return None, await tell_progress(session, pseudonyms, poll, option)


async def budget_progress(ctx: Context, argument: str) -> list[Reply]:
    """/budget CODE ITEM TEXT: a staff member marks a funded item's progress."""
    ctx.finish()
    places = {
        p.id
        for role, p in await queries.official_places(ctx.session, ctx.person)
        if role == "staff"
    }
    if not places:
        return [say("budget.staff_only")]
    match = _PROGRESS.match(argument)
    if match is None:
        return [say("budget.progress_usage")]
    code, item, text = match.groups()
    poll = await queries.poll_by_code(ctx.session, code)
    if poll is None or poll.municipality_id not in places:
        return [say("budget.unknown_round", code=code)]
    why, told = await mark_progress(ctx.session, ctx.pseudonyms, poll, item, text)
    if why is not None:
        return [say(why, code=poll.code, item=item)]
    return [say("budget.progress_saved", code=poll.code, item=item, count=told)]
