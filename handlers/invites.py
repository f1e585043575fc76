"""Redeeming an invite: /start inv-CODE on Telegram, JOIN CODE (КОШУЛ, ВСТУПИТЬ) by SMS.
The operator prints invites with `civicbot invite`; each works once, before it expires, and
makes the person a deputy, staff member or organizer of a municipality, or a member of an
initiative group."""

from __future__ import annotations

import secrets

from handlers import roles
from handlers.context import Context
from handlers.types import Text
from storage import queries
from storage.models import utcnow

LINK_PREFIX = "inv-"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
LENGTH = 8


def new_code(length: int = LENGTH) -> str:
    """A random code to type or say aloud: invites, campaigns."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


async def redeem(ctx: Context, code: str) -> Text:
    """What happened to the invite, as a line to tell the person."""
    code = code.strip().upper()
    if not code:
        return Text("invite.usage")
    invite = await queries.invite_by_code(ctx.session, code[:16])
    if invite is None:
        return Text("invite.unknown")
    now = utcnow()
    if invite.redeemed_at is not None:
        return Text("invite.used")
    if invite.expires_at < now:
        return Text("invite.expired")
    if not await queries.claim_invite(ctx.session, invite.code, now):
        return Text("invite.used")  # redeemed a moment ago by someone else
    await queries.grant_role(
        ctx.session, ctx.person, invite.role, invite.municipality_id, invite.initiative_id
    )
    ctx.refresh_menu = True  # the chat's menu gains the role's commands
    if invite.initiative is not None:
        return Text("invite.initiator", {"title": invite.initiative.title(ctx.language)})
    if ctx.person.municipality_id is None:  # an official usually lives where they serve
        await queries.change_person(ctx.session, ctx.person, municipality=invite.municipality)
    place = invite.municipality.name(ctx.language) if invite.municipality else ""
    commands = roles.commands(invite.role)  # what the role does, as its /help says
    if invite.role in ("organizer", "volunteer"):  # no digest
        return Text(f"invite.{invite.role}", {"place": place, "commands": commands})
    role = Text(f"role.{invite.role}")
    return Text("invite.official", {"role": role, "place": place, "commands": commands})
