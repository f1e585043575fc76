"""How notices and digests reach a Telegram user: through the service's one Telegram outbox,
at the broadcast pace (bot/channels/outbox.py, bot/channels/telegram/outbox.py)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from bot.channels.answers import Keyboard
from bot.channels.outbox import Outbox, RecipientBlocked, StillFailing, split_text
from bot.channels.parts import Part
from bot.channels.registration import BLOCKED, Broadcast, DigestSource, Outgoing
from bot.channels.telegram.bot_api import BotApi
from bot.channels.telegram.errors import NetworkError
from bot.channels.telegram.outbox import message, part_call
from bot.runtime.i18n import Catalogues

if TYPE_CHECKING:
    from storage.models import DigestDelivery, Person


class TelegramSender:
    def __init__(
        self,
        bot: BotApi,
        outbox: Outbox[BotApi],
        catalogues: Catalogues,
        connected: asyncio.Event | None = None,
    ) -> None:
        self.bot = bot
        self.outbox = outbox
        self.catalogues = catalogues
        self.connected = connected
        self.pacer: Broadcast | None = outbox.pacer  # one pace for everything broadcast

    async def notify(self, person: Person, outgoing: Outgoing, deadline: float) -> str | None:
        text = self.catalogues.text(person.language, outgoing.message)
        parts = await outgoing.files() if outgoing.files is not None else []
        chat_id = int(person.channel_user_id)
        sent = await self.send_text(
            chat_id, text, *parts, keyboard=outgoing.keyboard, deadline=deadline
        )
        return None if sent else BLOCKED

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *files: Part,
        keyboard: Keyboard = (),
        deadline: float | None = None,
    ) -> bool:
        """Send a message we start (a notice), its buttons under its last piece, and the files
        that go with it, all by `deadline` (monotonic) if given; False if the person has
        blocked the bot."""
        try:
            pieces = split_text(text)
            for number, piece in enumerate(pieces, start=1):  # at the broadcast pace
                buttons = keyboard if number == len(pieces) else ()
                call = message(chat_id, piece, buttons)
                await self.outbox.send(chat_id, call, deadline=deadline)
            for part in files:
                await self.outbox.send(chat_id, part_call(part, chat_id), deadline=deadline)
        except RecipientBlocked:  # the outbox has marked them: nothing more until they write
            return False
        return True

    async def send_digest(self, delivery: DigestDelivery, source: DigestSource) -> None:
        """The digest's text, chart and table; progress is saved after each message. A
        NetworkError is raised as StillFailing, an OSError, which the digests retry (they
        import nothing of Telegram's: bot/digests/delivery.py)."""
        parts = await source.parts(delivery, self.username())
        chat_id = int(delivery.person.channel_user_id)
        try:
            for index in range(delivery.messages, len(parts)):
                await self.send_part(chat_id, parts[index], source.send_within)
                await source.sent(delivery, index + 1)
        except NetworkError as error:
            raise StillFailing(str(error) or type(error).__name__) from error

    async def send_part(self, chat_id: int, part: Part, within: float) -> None:
        """One message at the broadcast pace, 429s waited out; RecipientBlocked,
        StillFailing and PermanentFailure tell the caller what went wrong (a failed digest is
        retried on its own schedule, not here)."""
        deadline = time.monotonic() + within  # inside the claim this part renews
        await self.outbox.send(
            chat_id, part_call(part, chat_id), network_retries=False, deadline=deadline
        )

    def username(self) -> str | None:
        return known_username(self.bot)


def known_username(bot: BotApi | None) -> str | None:
    """The bot's @name once it has asked Telegram (getMe); None before."""
    try:
        return bot.username if bot is not None else None
    except RuntimeError:  # not initialised
        return None
