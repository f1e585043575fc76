"""Whether the pictures that come with an action are taken: one set of rules, for a
channel's look before it fetches them and for the handlers inside the action's transaction.

Fetching and decoding a picture costs time and memory (bot/channels/pictures.py), so a channel asks
`look` first — reading, outside any transaction — and fetches nothing for a sender who could
not keep it: at a step or with a keyword that takes no pictures (a bribe report above all),
before choosing their place, or at the wish flood limit (a picture starts or joins a wish).
The action then comes without its pictures and with the reason, and the router answers as
it would have had they been fetched (handlers/router.py). The router asks `check` again
with the transaction's rows: the look is a defence against abuse, not the rule.
"""

from __future__ import annotations

from handlers import bribes, flood, photos
from handlers.context import Context
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound
from storage import queries
from storage.db import Database

# Why pictures are not taken (catalogue keys).
NOT_WITH_BRIBE = "photo.not_with_bribe"
NOT_HERE = "photo.not_here"
PLACE_FIRST = "photo.place_first"
OVER_LIMIT = "photo.over_limit"
REASONS = {NOT_WITH_BRIBE, NOT_HERE, PLACE_FIRST, OVER_LIMIT}
WISH_COMMANDS = {"change", "great"}  # keywords whose message (an MMS) keeps its pictures


def refusal(step: str | None, command: str | None, placed: bool) -> str | None:
    """Why pictures are not taken, short of counting: a keyword or a step that takes none,
    or no place chosen yet (a wish goes to the place's municipality); None if they are."""
    if command is not None:  # a keyword's message: its step is left behind
        if command == "bribe":
            return NOT_WITH_BRIBE
        if command not in WISH_COMMANDS:
            return NOT_HERE
    elif step:
        if bribes.in_report(step):
            return NOT_WITH_BRIBE
        if step not in photos.SHOWING_STEPS:
            return NOT_HERE
    return None if placed else PLACE_FIRST


async def look(db: Database, pseudonyms: Pseudonyms, inbound: Inbound) -> str | None:
    """Before a channel fetches an action's pictures: None to fetch them, else why not.
    Writes nothing."""
    async with db.session() as session:
        municipality_id, step = await queries.standing_of(
            session, inbound.channel, inbound.user_id
        ) or (None, None)
        refused = refusal(step, inbound.command, municipality_id is not None)
        if refused is None and await flood.at_wish_limit(
            session, pseudonyms, inbound.channel, inbound.user_id
        ):
            return OVER_LIMIT
    return refused


async def check(ctx: Context) -> str | None:
    """The same rules, inside the action's transaction."""
    inbound = ctx.inbound
    refused = refusal(ctx.step, inbound.command, ctx.person.municipality_id is not None)
    if (
        refused is None
        and not flood.exempt(ctx)
        and await flood.at_wish_limit(ctx.session, ctx.pseudonyms, inbound.channel, inbound.user_id)
    ):
        return OVER_LIMIT
    return refused
