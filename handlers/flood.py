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

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.pseudonyms import Pseudonyms
from handlers.types import Reply, say
from storage import queries
from storage.models import utcnow

WISHES_PER_HOUR = 20
EXPIRY = timedelta(hours=2)


def exempt(ctx: Context) -> bool:
    """Whether this sender is above the residents' limits. Nobody is: paper cards typed at
    a street stand never come this way (handlers/cards.py has its own ceiling)."""
    return False


def hour_of(now: datetime) -> str:
    """The hour a count belongs to, as its quota key holds it."""
    return now.strftime("%Y-%m-%dT%H")


async def over_wish_limit(ctx: Context) -> Reply | None:
    """Count one more wish for this sender; None while under the limit, else what to say
    (`limit_reached`)."""
    if exempt(ctx):
        return None
    now = utcnow()
    key = ctx.pseudonyms.of("wish-flood", ctx.inbound.channel, ctx.inbound.user_id, hour_of(now))
    if await queries.count_towards_quota(ctx.session, key, WISHES_PER_HOUR, now + EXPIRY):
        return await over_origin_limit(ctx, now)
    return await limit_reached(ctx)


async def limit_reached(ctx: Context) -> Reply:
    """What a sender at the limit is told: the notice once an hour, then an empty reply that
    the outcome keeps quiet."""
    sender = (ctx.inbound.channel, ctx.inbound.user_id, hour_of(utcnow()))
    notice_key = ctx.pseudonyms.of("wish-flood-notice", *sender)
    return await _once_anhour_of(ctx, notice_key, say("wish.flood", limit=WISHES_PER_HOUR))


async def over_origin_limit(ctx: Context, now: datetime) -> Reply | None:
    """Count one more wish for the sender's origin, if it has one; like `over_wish_limit`."""
    origin = ctx.inbound.origin
    if origin is None:
        return None
    channel, hour = ctx.inbound.channel, hour_of(now)
    expires = now + EXPIRY
    key = ctx.pseudonyms.of("wish-flood-origin", channel, origin.key, hour)
    if await queries.count_towards_quota(ctx.session, key, origin.wishes_per_hour, expires):
        return None
    notice_key = ctx.pseudonyms.of("wish-flood-origin-notice", channel, ctx.inbound.user_id, hour)
    notice = say("wish.flood_origin", limit=origin.wishes_per_hour)
    return await _once_anhour_of(ctx, notice_key, notice)


async def _once_anhour_of(ctx: Context, notice_key: str, notice: Reply) -> Reply:
    """The notice the first time this hour (counted under `notice_key`), then an empty reply
    that the outcome keeps quiet."""
    if await queries.count_towards_quota(ctx.session, notice_key, 1, utcnow() + EXPIRY):
        return notice
    ctx.quiet = True
    return Reply(parts=())


async def at_wish_limit(
    session: AsyncSession, pseudonyms: Pseudonyms, channel: str, user_id: str
) -> bool:
    """Whether this sender has reached the limit this hour, counting nothing (a channel's
    look before it fetches a picture: handlers/picture_gate.py)."""
    key = pseudonyms.of("wish-flood", channel, user_id, hour_of(utcnow()))
    return await queries.quota_used(session, key) >= WISHES_PER_HOUR
