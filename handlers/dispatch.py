"""The one entry point every channel calls: one inbound action in, what to say out.

Everything an action changes — the person, the conversation step, a new wish, and the
de-duplication row with the answer kept for a redelivery — commits in one transaction,
before the adapter sends a reply or acknowledges the delivery. A crash before the commit
leaves nothing half-done, and the redelivery is handled afresh; a redelivery after the
commit is recognised, changes nothing, and can be given the kept answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from handlers import account, roles
from handlers.context import Context, guess_language
from handlers.log_fields import fields
from handlers.pseudonyms import Pseudonyms
from handlers.router import route
from handlers.types import Inbound, Outcome
from handlers.validation import clean
from storage import queries
from storage.db import Database
from storage.files import FileStore
from storage.prebuilt import flush_pending

log = logging.getLogger(__name__)


async def handle(
    db: Database,
    pseudonyms: Pseudonyms,
    inbound: Inbound,
    render: Callable[[Outcome], str] | None = None,
    files: FileStore | None = None,
) -> Outcome | None:
    """Handle one action; None if this delivery was handled before. Returns only once what
    it changed is committed (an exception if it could not be).

    With `render`, the answer as the channel will send it is kept with the delivery, in the
    same transaction, so that a redelivery can be given the very same answer. Pictures the
    action keeps are written to `files` before the commit (a failure rolls it back).
    """
    started = time.perf_counter()
    inbound = cleaned(inbound)

    async def work(session: AsyncSession) -> Outcome:
        return await _handle_in(session, pseudonyms, inbound, render, files)

    try:
        try:
            outcome = await db.write(work)
        except (StaleDataError, DBAPIError) as error:
            if not worth_once_more(error, inbound):
                raise
            outcome = await db.write(work)
    except queries.DuplicateDelivery:  # raised out of the transaction: nothing of it is kept
        _logged(inbound.channel, "duplicate", started)
        return None
    if files is not None:  # committed: what no row holds goes (else the sweep takes it)
        for key in outcome.discarded_files:
            await files.delete(key)
    _logged(inbound.channel, "silent" if outcome.silent else "answered", started)
    return outcome


def _logged(channel: str, outcome: str, started: float) -> None:
    """One line an action kept: its channel, what came of it and how long it took (the
    channel logs one that failed, with its reason); never who or what was said."""
    if not log.isEnabledFor(logging.INFO):  # its fields are not built for nothing
        return
    log.info(
        "inbound %s: %s",
        channel,
        outcome,
        extra=fields("inbound", channel=channel, outcome=outcome, started=started),
    )


def worth_once_more(error: Exception, inbound: Inbound) -> bool:
    """Whether a failed action runs once more at once: another worker changed a row it meant
    to write (two staff answering one wish at once, on PostgreSQL), or its pooled connection
    was found dead (the server restarted while the bot was quiet; SQLAlchemy has discarded the
    pool). The second only with a delivery key, which makes a run after a commit whose answer
    was lost with the connection change nothing."""
    if isinstance(error, StaleDataError):
        return True
    return (
        isinstance(error, DBAPIError)
        and error.connection_invalidated
        and inbound.delivery_id is not None
    )


async def _handle_in(
    session: AsyncSession,
    pseudonyms: Pseudonyms,
    inbound: Inbound,
    render: Callable[[Outcome], str] | None,
    files: FileStore | None,
) -> Outcome:
    key = None
    if inbound.delivery_id is not None:
        key, *previous_keys = delivery_keys(pseudonyms, inbound.channel, inbound.delivery_id)
        if previous_keys and await queries.delivery_reply(session, previous_keys) is not None:
            raise queries.DuplicateDelivery(key)  # handled before the key rotation
    ctx = await open_context(session, inbound, pseudonyms)
    was_opted_out = ctx.person.opted_out
    if inbound.clears_opt_out:
        await queries.change_person(session, ctx.person, opted_out=False)
    in_flow = ctx.step is not None  # answering a question the bot asked
    replies = await route(ctx)
    for picture in ctx.kept_pictures:  # content-addressed: a redelivery writes nothing new
        if files is None:
            raise RuntimeError("pictures to keep, and no file store")
        await files.put(picture.key, picture.data)
    stays_opted_out = was_opted_out and ctx.person.opted_out and not ctx.forgotten
    if stays_opted_out:
        # Handled, and answered only by the once-a-day reminder that they stopped, unless a
        # question is under way (a plain text's "save it?", a signature's next step): then
        # the exchange goes on, or what they wrote would be lost with no word why.
        reminder = await account.while_opted_out(ctx)
        replies = [*replies, *reminder] if in_flow or ctx.step is not None else reminder
    menu = None
    if (ctx.language_changed or ctx.refresh_menu) and not ctx.forgotten:
        menu = roles.menu(await roles.roles(ctx))
    outcome = Outcome(
        language=ctx.language,
        replies=replies,
        button_accepted=ctx.button_accepted,
        menu=menu,
        silent=ctx.quiet or (stays_opted_out and not replies),
        private=ctx.private,
        refusal=ctx.refusal,
        discarded_files=tuple(ctx.discarded_files),
    )
    await queries.save_conversation(session, ctx.conversation)
    if key is not None:
        # Last, so that one statement both records the delivery and keeps its answer; a
        # delivery handled before (here or by another worker meanwhile) raises, and what this
        # one changed is rolled back with its transaction.
        await queries.claim_delivery(session, key, render(outcome) if render else None)
    await flush_pending(session)
    return outcome


def cleaned(inbound: Inbound) -> Inbound:
    """The inbound with control characters taken out of what the resident typed, before
    anything is stored or compared; the same inbound when there were none (most messages:
    no copy made)."""
    argument = clean(inbound.argument)
    text = clean(inbound.text) if inbound.text is not None else None
    if argument == inbound.argument and text == inbound.text:
        return inbound
    return replace(inbound, argument=argument, text=text)


def delivery_keys(pseudonyms: Pseudonyms, channel: str, delivery_id: str) -> tuple[str, ...]:
    """The delivery's keyed hash: first the one to store, then those by keys being rotated out."""
    return pseudonyms.every("delivery", channel, delivery_id)


async def previous_reply(
    db: Database, pseudonyms: Pseudonyms, channel: str, delivery_id: str
) -> str | None:
    """The answer kept for a delivery handled before (see `handle`)."""
    async with db.session() as session:
        return await queries.delivery_reply(
            session, delivery_keys(pseudonyms, channel, delivery_id)
        )


async def open_context(session: AsyncSession, inbound: Inbound, pseudonyms: Pseudonyms) -> Context:
    hinted = guess_language(inbound.language_hint)
    # A new sender starts in the hinted language, or else the guessed one (SMS STOP).
    first = hinted if inbound.language_hint else guess_language(inbound.language_guess)
    # The conversation's lock first: it orders one person's actions across workers, and an
    # action changes its person's settings only under it (storage/queries/senders.py).
    person, conversation, added = await queries.open_sender(
        session, inbound.channel, inbound.user_id, first
    )
    if not added and not person.language_confirmed and inbound.language_hint:
        # Until the resident chooses, we answer in the language they write in.
        await queries.change_person(session, person, language=hinted)
    return Context(session, inbound, person, conversation, pseudonyms)


async def language_of(db: Database, channel: str, user_id: str, hint: str | None) -> str:
    """The language to use for someone outside a handled action (an error notice, say)."""
    async with db.session() as session:
        person = await queries.find_person(session, channel, user_id)
    return person.language if person is not None else guess_language(hint)
