"""`civicbot chat`: the bot in a terminal, on the same handlers as every channel, for trainers
and for trying it on a laptop. Type as on Telegram; a button is pressed by its number. One
conversation per terminal user (channel "web", like the browser's web chat).

Where the conversation is lives in the database, as on every channel; the buttons shown last
are the terminal's screen, kept in the user's own state folder (XDG_STATE_HOME, else
~/.local/state) so that their numbers still press them in the next `civicbot chat`."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.channels import answers
from bot.channels.answers import Keyboard
from bot.runtime.config import Settings
from bot.runtime.database import file_store, location, prepare_database
from bot.runtime.i18n import Catalogues
from handlers import appeals, dispatch
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound, typed
from storage.channels import WEB

PROMPT = "> "
Rows = list[list[tuple[str, str]]]  # the buttons on the screen: rows of (label, payload)


async def chat(settings: Settings, given: TextIO, out: TextIO) -> int:
    db = await prepare_database(settings)
    appeals.configure(appeals.Rules(settings.appeal_answer_days, settings.timezone))  # as serve
    pseudonyms = Pseudonyms.from_keys(settings.secret_keys())
    catalogues = Catalogues()
    files = file_store(settings)  # /forget deletes a resident's photos
    user = pseudonyms.of("terminal-user", getpass.getuser())
    screen = buttons_file(settings, user)
    print(
        f"civicbot chat on the database {location(settings)}: type as on Telegram (/start to "
        "begin); a number presses a button; an empty line or Ctrl-D ends.",
        file=out,
    )
    shown = _remembered(screen)
    if shown:
        print("The buttons shown last time:", file=out)
    buttons = _print_buttons(shown, 0, out)  # the payloads by number - 1
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
            shown, buttons = [], []
            for text, keyboard in answer.messages:
                print(text, file=out)
                rows = [list(row) for row in keyboard]
                buttons += _print_buttons(rows, len(buttons), out)
                shown += rows
            # A bribe report's or a signer's step leaves nothing behind (architecture §8).
            _remember(screen, [] if outcome.private else shown)
    finally:
        await db.close()
        await files.close()


def _inbound(settings: Settings, user: str, line: str, buttons: list[str]) -> Inbound:
    """A line as Telegram would give it: a button's number, a command, or a text. Each line
    is new (no delivery id): nothing delivers a terminal's line twice."""
    sender = Inbound(
        channel=WEB,
        user_id=user,
        timezone=settings.timezone,
        public_base_url=settings.public_base_url,
    )
    if line.isdigit() and 1 <= int(line) <= len(buttons):
        return replace(sender, button=buttons[int(line) - 1])
    return typed(sender, line)


def _print_buttons(rows: Rows | Keyboard, before: int, out: TextIO) -> list[str]:
    payloads: list[str] = []
    for row in rows:
        labels = []
        for label, payload in row:
            payloads.append(payload)
            labels.append(f"[{before + len(payloads)}] {label}")
        print("   " + "   ".join(labels), file=out)
    return payloads


def buttons_file(settings: Settings, user: str) -> Path:
    """Where this user's last buttons on this database wait for the next chat."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    name = hashlib.sha256(f"{location(settings)}\n{user}".encode()).hexdigest()[:24]
    return Path(state) / "civicbot" / f"chat-{name}.json"


def _remembered(path: Path) -> Rows:
    """The buttons kept last time; none when there are none or the file is not ours."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    rows: Rows = []
    for row in kept if isinstance(kept, list) else ():
        if not isinstance(row, list):
            return []
        pairs = [tuple(pair) for pair in row if isinstance(pair, list) and len(pair) == 2]
        if len(pairs) != len(row) or not all(isinstance(part, str) for p in pairs for part in p):
            return []
        rows.append([(label, payload) for label, payload in pairs])
    return rows


def _remember(path: Path, rows: Rows) -> None:
    """Keep the buttons on the screen (only the user may read them); none: forget them. A
    folder that cannot be written (a read-only home) only costs the next chat its numbers."""
    with contextlib.suppress(OSError):
        if not rows:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".chat-")  # created 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, ensure_ascii=False)
        os.replace(temporary, path)
