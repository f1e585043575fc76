"""What each role may do in the bot, said in one place: the commands of its Telegram menu,
its paragraph of /help (the invite's welcome says the same), and the line that ends its
set-up. Everyone is a resident; invites add roles (handlers/invites.py).

A deputy reads the inbox and the digest; staff also answer and tell residents what was done;
an organizer runs campaigns and types cards, a volunteer types cards; an initiative group
follows its signatures.
"""

from __future__ import annotations

from handlers.context import Context
from handlers.types import Reply, Text
from storage import queries

# A resident's commands, in the order of the Telegram menu.
RESIDENT_MENU = (
    "change",
    "great",
    "bribe",
    "sign",
    "appeal",
    "mine",
    "place",
    "language",
    "mydata",
    "privacy",
    "forget",
    "help",
    "cancel",
)
# Each role's own commands, shown before a resident's; the roles in the order they are said.
ROLE_COMMANDS: dict[str, tuple[str, ...]] = {
    "staff": ("inbox", "web", "digest", "poll"),
    "deputy": ("digest", "inbox", "web", "poll"),
    "organizer": ("campaign", "card", "undo"),
    "volunteer": ("card", "undo"),
    "initiator": ("initiative",),
}
# A role whose paragraph says all the other's does (staff read what deputies read and answer;
# an organizer types cards as a volunteer does and runs the campaigns).
COVERS = {"staff": "deputy", "organizer": "volunteer"}


async def roles(ctx: Context) -> tuple[str, ...]:
    """The person's roles to speak of, in ROLE_COMMANDS' order, none another one covers."""
    held = await queries.roles_of(ctx.session, ctx.person)
    covered = {COVERS[role] for role in held if role in COVERS}
    return tuple(role for role in ROLE_COMMANDS if role in held and role not in covered)


def menu(held: tuple[str, ...]) -> tuple[str, ...]:
    """The commands of a Telegram menu for these roles: theirs first, then a resident's."""
    every = [command for role in held for command in ROLE_COMMANDS[role]]
    return tuple(dict.fromkeys([*every, *RESIDENT_MENU]))


def commands(role: str) -> Text:
    """The role's paragraph: its commands and what each does."""
    return Text(f"help.{role}")


async def help_parts(ctx: Context) -> tuple[Text, ...]:
    """/help's paragraphs for the person's roles, before a resident's help. Someone with a
    role has the channel's menu set again, so it shows them too (ARCHITECTURE.md §6), even
    if they joined before menus knew roles; a resident's stays the default."""
    if not ctx.guided:  # SMS: the help is the keywords, in one segment
        return ()
    held = await roles(ctx)
    if held:
        ctx.refresh_menu = True
    return tuple(commands(role) for role in held)


async def ready(ctx: Context) -> Reply:
    """What ends set-up: a resident's first commands, or where a role's are."""
    if await roles(ctx):
        ctx.refresh_menu = True  # the answer says their commands are in the menu
        return Reply(parts=(Text("start.ready_role"),))
    return Reply(parts=(Text("start.ready"),))
