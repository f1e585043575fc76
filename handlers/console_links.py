"""/web (SMS `ВЕБ` / `WEB`): a one-time link to the staff console for staff and deputies.

The link is `{PUBLIC_BASE_URL}/staff/login/<token>`, valid LINK_MINUTES and good for one
sign-in (bot/web/staff/): only a keyed hash of the token is stored, so the database alone
opens nothing. It is an answer like any other (the outbox sends it), and the action is
private: the token is not kept with the delivery for a redelivery, nor carried in the web
chat's page. Without PUBLIC_BASE_URL there is no address to give: the answer says so (the
operator sets it; docs/operations.md)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from handlers import answering
from handlers.context import Context
from handlers.pseudonyms import Pseudonyms
from handlers.steps import Replies
from handlers.types import say
from storage.models import utcnow
from storage.queries import console

LINK_MINUTES = 10
# A signed-in browser's session ends after this long without a request, and this long after
# it began whatever it did (bot/web/staff/access.py; swept by bot/runtime/housekeeping.py).
SESSION_IDLE = timedelta(minutes=30)
SESSION_LIFETIME = timedelta(hours=12)
LOGIN_PATH = "/staff/login/"
PURPOSE = "console-link"  # of the keyed hash that stores a token
TOKEN_BYTES = 18  # 24 characters in the link: 144 bits, short enough for an SMS


def token_keys(pseudonyms: Pseudonyms, token: str) -> tuple[str, ...]:
    """What a token is looked up by: its keyed hash under every known key, newest first."""
    return pseudonyms.every(PURPOSE, token)


async def web(ctx: Context, argument: str) -> Replies:
    """/web: the link, to an official; a short refusal to anyone else."""
    ctx.finish()
    places = await answering.places_of(ctx)
    if not places.readable:
        return [say("console.officials_only")]
    base = ctx.inbound.public_base_url
    if not base:
        return [say("console.no_address")]
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = utcnow() + timedelta(minutes=LINK_MINUTES)
    console.add_link(ctx.session, ctx.pseudonyms.of(PURPOSE, token), ctx.person.id, expires)
    ctx.private = True  # the token is never kept for a redelivery or shown again
    return [say("console.link", link=f"{base}{LOGIN_PATH}{token}", minutes=LINK_MINUTES)]
