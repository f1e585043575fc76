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
    period = str(Week.last_complete(ctx.today))
    orders = tuple(DigestOrder(place, period, staff) for place, staff in roles.items())
    return [Reply(parts=(), digests=orders)]
