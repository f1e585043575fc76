"""What deputies and municipal staff do in the bot: /digest shows the latest weekly digest
of their municipality (or of each, for someone who serves several). Everyone else is told
who the digest is for; an official asking for another municipality's is told which are
theirs."""

from __future__ import annotations

from handlers.context import Context
from handlers.types import DigestOrder, Reply, say
from handlers.weeks import Week
from storage import queries


async def digest(ctx: Context, argument: str) -> list[Reply]:
    ctx.finish()
    mine = await queries.official_places(ctx.session, ctx.person)
    if not mine:
        return [say("digest.officials_only")]
    wanted = argument.strip().lower()
    places = [(r, p) for r, p in mine if not wanted or wanted in (p.key.lower(), str(p.code))]
    if not places:
        listed = ", ".join(f"{place.name(ctx.language)} ({place.key})" for _, place in mine)
        return [say("digest.not_yours", places=listed)]
    roles: dict[int, bool] = {}  # municipality -> staff (with the table)
    for role, place in places:
        roles[place.id] = roles.get(place.id, False) or role == "staff"
    orders = []
    for place_id, staff in roles.items():
        orders.append(DigestOrder(place_id, await _week_to_show(ctx, place_id), staff))
    return [Reply(parts=(), digests=tuple(orders))]


async def _week_to_show(ctx: Context, municipality_id: int) -> str:
    """The week of the digest last sent to this municipality's officials, or the last
    complete week when that is newer (the weekly run has not reached it yet): the same week
    the officials received, never an earlier one."""
    complete = str(Week.last_complete(ctx.today))
    sent = await queries.latest_digest_period(ctx.session, municipality_id)
    return max(sent or complete, complete)
