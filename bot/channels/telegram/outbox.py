"""The Telegram side of the shared outbox (bot/channels/outbox.py): how the Bot API's errors
are read (`telegram_verdict`), the outbox the channel and the commands send through
(`telegram_outbox`), and the calls it runs — a text message kept as plain data until it goes
(`message`), a digest's or a notice's part (`part_call`).

Here, not in the shared outbox, so that a server without Telegram never loads the Telegram
channel (docs/decisions.md, "python-telegram-bot only with Telegram")."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.channels.outbox import Blocked, Hold, Outbox, Refused, Transient, Verdict
from bot.channels.parts import Part
from bot.channels.telegram.bot_api import BotApi, Keyboard, inline_keyboard
from bot.channels.telegram.errors import BadRequest, Forbidden, NetworkError, RetryAfter
from bot.runtime.config import Settings
from storage import queries
from storage.channels import TELEGRAM
from storage.db import Database

LAYOUTS = 1024  # distinct button layouts kept to be shared (`message`)

Call = Callable[[BotApi], Awaitable[object]]  # one Telegram message: what the outbox runs


def telegram_verdict(error: Exception) -> Verdict | None:
    if isinstance(error, RetryAfter):
        return Hold(error.retry_after)
    if isinstance(error, Forbidden):
        return Blocked()
    if isinstance(error, BadRequest):  # before NetworkError: BadRequest is one
        return Refused(error.message)
    if isinstance(error, NetworkError):
        return Transient()
    return None


def telegram_outbox(bot: BotApi, db: Database, settings: Settings) -> Outbox[BotApi]:
    """The outbox for Telegram: a chat that blocked the bot is opted out, a message given up
    is recorded for its person."""
    return Outbox(
        bot,
        marks_blocked(db),
        classify=telegram_verdict,
        channel=TELEGRAM,
        give_up_after=settings.send_give_up_minutes * 60,
        on_given_up=records_given_up(db),
    )


def marks_blocked(db: Database) -> Callable[[int], Awaitable[None]]:
    """What an outbox calls when a chat has blocked the bot: the person is opted out."""

    async def mark(chat_id: int) -> None:
        await db.write(lambda session: queries.mark_opted_out(session, TELEGRAM, str(chat_id)))

    return mark


def records_given_up(db: Database) -> Callable[[int, str], Awaitable[None]]:
    """What a Telegram outbox calls when it gives a message up: a failed record for the
    person (no text kept), as a failed SMS has."""

    async def record(chat_id: int, reason: str) -> None:
        await db.write(
            lambda session: queries.record_failed_send(session, TELEGRAM, str(chat_id), reason)
        )

    return record


Layout = tuple[tuple[tuple[str, str], ...], ...]  # rows of (label, payload after the prefix)


@dataclass(frozen=True, slots=True)
class Message:
    """The call that sends one text message (with buttons under it, if any), kept as plain
    data until it is sent, for the 20,000 follow-ups that may wait for the pace at once:
    its buttons as the prefix their payloads share (a conversation's nonce) and a layout
    shared by every message with the same buttons (`message`). The Bot API's payload is
    built when it goes."""

    chat_id: int
    text: str
    prefix: str = ""
    layout: Layout = ()

    @property
    def keyboard(self) -> Keyboard:
        prefix = self.prefix
        return tuple(tuple((label, prefix + rest) for label, rest in row) for row in self.layout)

    def __call__(self, bot: BotApi) -> Awaitable[None]:
        markup = inline_keyboard(self.keyboard)
        return bot.call("sendMessage", chat_id=self.chat_id, text=self.text, reply_markup=markup)


def message(chat_id: int, text: str, keyboard: Keyboard = ()) -> Call:
    """The call that sends one text message (with buttons under it, if any)."""
    payloads = [payload for row in keyboard for _, payload in row]
    if not payloads:
        return Message(chat_id, text)
    # A conversation's buttons are "nonce:value": the nonce is this person's, the rest not.
    prefix = payloads[0][: payloads[0].rfind(":") + 1]
    if not all(payload.startswith(prefix) for payload in payloads):
        prefix = ""
    cut = len(prefix)
    layout = tuple(tuple((label, payload[cut:]) for label, payload in row) for row in keyboard)
    # Only a layout others can share is kept: one of whole payloads is this person's alone.
    return Message(chat_id, text, prefix, _shared(layout) if prefix else layout)


@functools.lru_cache(maxsize=LAYOUTS)
def _shared(layout: Layout) -> Layout:
    """The first of equal layouts, given for the next ones: a wave of closing questions
    keeps one (about 900 bytes each before, their labels and payloads as tuples)."""
    return layout


def part_call(part: Part, chat_id: int) -> Call:
    """The Bot API call that sends a part: a text, a photo or a document with its caption."""
    if part.kind == "text":
        return message(chat_id, part.text)
    if part.kind == "photo":
        return lambda bot: bot.send_photo(
            chat_id, part.data, caption=part.text, filename=part.filename
        )
    return lambda bot: bot.send_document(
        chat_id, part.data, caption=part.text, filename=part.filename
    )
