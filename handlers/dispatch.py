"""The one entry point every channel calls: one inbound action in, what to say out.

Everything an action changes — the de-duplication row, the person, the conversation step,
a new wish — commits in one transaction, before the adapter sends a reply or acknowledges
the delivery. A crash before the commit leaves nothing half-done, and the redelivery is
handled afresh; a redelivery after the commit is recognised and does nothing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context, guess_language
from handlers.router import route
from handlers.types import Inbound, Outcome
from storage import queries
from storage.db import Database


async def handle(db: Database, inbound: Inbound) -> Outcome | None:
    """Handle one action; None if this delivery was handled before."""
    async with db.session() as session:
        try:
            async with session.begin():
                if inbound.delivery_id is not None:
                    await queries.claim_delivery(session, inbound.channel, inbound.delivery_id)
                ctx = await open_context(session, inbound)
                replies = await route(ctx)
                language = ctx.language
        except queries.DuplicateDelivery:
            return None
    return Outcome(
        language=language,
        replies=replies,
        button_accepted=ctx.button_accepted,
        language_changed=ctx.language_changed,
    )


async def open_context(session: AsyncSession, inbound: Inbound) -> Context:
    person = await queries.find_person(session, inbound.channel, inbound.user_id)
    is_new = person is None
    if person is None:
        language = guess_language(inbound.language_hint)
        person = await queries.add_person(session, inbound.channel, inbound.user_id, language)
    # Writing to us again is coming back after blocking the bot.
    person.opted_out = False
    conversation = await queries.conversation_of(session, person)
    return Context(session, inbound, person, conversation, is_new=is_new)


async def language_of(db: Database, channel: str, user_id: str, hint: str | None) -> str:
    """The language to use for someone outside a handled action (an error notice, say)."""
    async with db.session() as session:
        person = await queries.find_person(session, channel, user_id)
    return person.language if person is not None else guess_language(hint)
