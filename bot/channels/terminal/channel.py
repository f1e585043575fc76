"""`civicbot chat`: the bot in a terminal, on the same handlers as every channel, for trainers
and for trying it on a laptop. Type as on Telegram; a button is pressed by its number. One
conversation per terminal user (channel "web", like the browser's web chat)."""

from __future__ import annotations

import asyncio
import getpass
from dataclasses import replace
from typing import TextIO

from bot.channels import answers
from bot.channels.answers import Keyboard
from bot.runtime.config import Settings
from bot.runtime.database import file_store, prepare_database
from bot.runtime.i18n import Catalogues
from handlers import dispatch
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound, typed
from storage.channels import WEB

PROMPT = "> "


async def chat(settings: Settings, given: TextIO, out: TextIO) -> int:
    db = await prepare_database(settings)
    pseudonyms = Pseudonyms.from_keys(settings.secret_keys())
    catalogues = Catalogues()
    files = file_store(settings)  # /forget deletes a resident's photos
    user = pseudonyms.of("terminal-user", getpass.getuser())
    buttons: list[str] = []  # the payloads of the buttons shown last, by number - 1
    print("civicbot chat: type as on Telegram (/start to begin); a number presses a button;"
          " an empty line or Ctrl-D ends.", file=out)  # fmt: skip
    try:
        while True:
            print(PROMPT, end="", file=out, flush=True)
            line = (await asyncio.to_thread(given.readline)).strip()
            if not line:
                return 0
            inbound = _inbound(settings, user, line, buttons)
            outcome = await dispatch.handle(db, pseudonyms, inbound, files=files)
            if outcome is None or outcome.silent:
                continue
            answer = answers.render(catalogues, outcome)
            buttons = []
            for text, keyboard in answer.messages:
                print(text, file=out)
                buttons += _print_buttons(keyboard, len(buttons), out)
    finally:
        await db.close()
        await files.close()


def _inbound(settings: Settings, user: str, line: str, buttons: list[str]) -> Inbound:
    """A line as Telegram would give it: a button's number, a command, or a text. Each line
    is new (no delivery id): nothing delivers a terminal's line twice."""
    sender = Inbound(channel=WEB, user_id=user, timezone=settings.timezone)
    if line.isdigit() and 1 <= int(line) <= len(buttons):
        return replace(sender, button=buttons[int(line) - 1])
    return typed(sender, line)


def _print_buttons(keyboard: Keyboard, before: int, out: TextIO) -> list[str]:
    payloads = []
    for row in keyboard:
        labels = []
        for label, payload in row:
            payloads.append(payload)
            labels.append(f"[{before + len(payloads)}] {label}")
        print("   " + "   ".join(labels), file=out)
    return payloads
