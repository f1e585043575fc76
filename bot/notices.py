"""Sending notices: messages to a person that are not answers to what they just did (an
initiative group hears that its initiative reached 33%, say).

Handlers write a notice in the same transaction as what caused it; this loop sends it
afterwards, on the person's own channel and in their language. Each notice is claimed for a
lease before it is sent and settled after, so two workers never both send one, and one a
crashed worker held is sent after its lease (at least once: storage/queries/notices.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from bot.answers import Keyboard
from bot.i18n import Catalogues
from bot.parts import Part
from bot.sms.channel import VARIANT as SMS_VARIANT
from bot.sms.channel import SmsChannel
from bot.telegram import TelegramChannel
from handlers.types import Text
from storage import queries
from storage.db import Database
from storage.models import Notice, Person, utcnow

WHATSAPP_WINDOW = timedelta(hours=24)  # after it, WhatsApp takes only approved templates
INTERVAL = 2.0  # seconds between looks for new notices
BATCH = 50

log = logging.getLogger(__name__)

# What follows a notice's text on Telegram (a campaign summary's chart and table), made from
# the notice's values in the person's language; registered by the runtime per notice key.
Files = Callable[[Mapping[str, object], str], Awaitable[list[Part]]]


def revive(values: Mapping[str, object]) -> dict[str, object]:
    """A notice's values as the catalogues take them: {"t": KEY} is that message (a status,
    a topic), rendered in the reader's language."""
    return {
        name: Text(str(value["t"])) if isinstance(value, dict) and set(value) == {"t"} else value
        for name, value in values.items()
    }


def window_open(values: Mapping[str, object], now: datetime | None = None) -> bool:
    """Whether the resident wrote to us in the last 24 hours (WhatsApp then takes free text):
    known only when the notice names the moment ("opened_at", the wish it answers). No
    person's last message is kept for it: that moment would sit beside their reports."""
    opened = values.get("opened_at")
    if not isinstance(opened, str):
        return False
    try:
        moment = datetime.fromisoformat(opened)
    except ValueError:
        return False
    return (now or utcnow()) - moment < WHATSAPP_WINDOW


class Notifier:
    def __init__(
        self,
        db: Database,
        catalogues: Catalogues,
        telegram: TelegramChannel | None,
        sms: SmsChannel | None,
        files: Mapping[str, Files] | None = None,
    ) -> None:
        self.db = db
        self.catalogues = catalogues
        self.telegram = telegram
        self.sms = sms
        self.files = dict(files or {})
        self.stopping = asyncio.Event()

    async def deliver_pending(self) -> int:
        """Send the notices waiting; how many were sent."""
        async with self.db.session() as session:
            waiting = await queries.unsent_notices(session, self._channels_up(), BATCH, utcnow())
        sent = 0
        for notice_id in waiting:
            if self.stopping.is_set():
                break
            async with self.db.session() as session, session.begin():
                claimed = await queries.claim_notice(session, notice_id, utcnow())
            if claimed is None:
                continue
            try:
                delivered = await self._send(*claimed)
            except Exception:  # held until its lease ends, then tried again
                log.exception("a notice (%s) could not be sent; it is tried again", claimed[0].key)
                continue
            async with self.db.session() as session, session.begin():
                await queries.settle_notice(session, notice_id, utcnow())
            sent += delivered
        return sent

    def _channels_up(self) -> list[str]:
        """Channels that can send now; notices for the others wait (they are not claimed)."""
        channels = []
        if self.telegram is not None and self.telegram.ready.is_set():
            channels.append("telegram")
        if self.sms is not None:
            channels += ["sms", "whatsapp"]
        return channels

    async def _send(self, notice: Notice, person: Person) -> bool:
        if person.opted_out:
            return False
        message = Text(notice.key, revive(notice.values))
        if person.channel == "telegram" and self.telegram is not None:
            text = self.catalogues.text(person.language, message)
            files = self.files.get(notice.key)
            parts = await files(notice.values, person.language) if files is not None else []
            keyboard = self._keyboard(notice.values.get("buttons"), person.language)
            chat_id = int(person.channel_user_id)
            return await self.telegram.send_text(chat_id, text, *parts, keyboard=keyboard)
        assert self.sms is not None  # only notices for channels that are up are claimed
        text = self.catalogues.text(person.language, message, SMS_VARIANT)
        return await self.sms.send(person, text, window_open(notice.values)) is not None

    def _keyboard(self, rows: object, language: str) -> Keyboard:
        """A notice's buttons, [[[label key, payload], …], …], labelled in the language."""
        if not isinstance(rows, list):
            return ()
        return tuple(
            tuple((self.catalogues.text(language, Text(str(k))), str(p)) for k, p in row)
            for row in rows
        )

    async def run_forever(self, interval: float = INTERVAL) -> None:
        """Until `stopping` is set: then the notice in hand is finished, and no more taken (a
        claimed notice cut off half-sent would be lost)."""
        while not self.stopping.is_set():
            try:
                await self.deliver_pending()
            except Exception:
                log.exception("sending notices failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)
