"""Flood limits per sender, so that one phone (or one script) cannot fill a digest or run up
a bill of answers: at most WISHES_PER_HOUR wishes an hour, counted under a keyed hash with an
expiry (no phone number or chat id is kept for it). The first wish over the limit gets a
polite notice; later ones within the hour are neither stored nor answered.

Where many senders share one source (`Inbound.origin`: a web chat visitor's address, where
anyone can be a new sender at will), that source's wishes are limited as a whole as well,
with its own notice, once an hour for each sender.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.context import Context
from handlers.types import Reply, say
from storage import queries
from storage.models import utcnow

WISHES_PER_HOUR = 20


def exempt(ctx: Context) -> bool:
    """Whether this sender is above the residents' limits. Nobody is: paper cards typed at
    a street stand never come this way (handlers/cards.py has its own ceiling)."""
    return False


def _hour(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H")


async def over_wish_limit(ctx: Context) -> Reply | None:
    """Count one more wish for this sender; None while under the limit, else what to say
    (the notice once an hour, then an empty reply that the outcome keeps quiet)."""
    if exempt(ctx):
        return None
    now = utcnow()
    sender = (ctx.inbound.channel, ctx.inbound.user_id, _hour(now))
    expires = now + timedelta(hours=2)
    key = ctx.pseudonyms.of("wish-flood", *sender)
    if await queries.count_towards_quota(ctx.session, key, WISHES_PER_HOUR, expires):
        return await over_origin_limit(ctx, now)
    notice_key = ctx.pseudonyms.of("wish-flood-notice", *sender)
    if await queries.count_towards_quota(ctx.session, notice_key, 1, expires):
        return say("wish.flood", limit=WISHES_PER_HOUR)
    ctx.quiet = True
    return Reply(parts=())


async def over_origin_limit(ctx: Context, now: datetime) -> Reply | None:
    """Count one more wish for the sender's origin, if it has one; like `over_wish_limit`."""
    origin = ctx.inbound.origin
    if origin is None:
        return None
    channel, hour = ctx.inbound.channel, _hour(now)
    expires = now + timedelta(hours=2)
    key = ctx.pseudonyms.of("wish-flood-origin", channel, origin.key, hour)
    if await queries.count_towards_quota(ctx.session, key, origin.wishes_per_hour, expires):
        return None
    notice_key = ctx.pseudonyms.of("wish-flood-origin-notice", channel, ctx.inbound.user_id, hour)
    if await queries.count_towards_quota(ctx.session, notice_key, 1, expires):
        return say("wish.flood_origin", limit=origin.wishes_per_hour)
    ctx.quiet = True
    return Reply(parts=())
