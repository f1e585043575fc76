"""Sending notices: messages to a person that are not answers to what they just did (an
initiative group hears that its initiative reached 33%, say).

Handlers write a notice in the same transaction as what caused it; this loop sends it
afterwards, on the person's own channel and in their language. Each notice is claimed for a
lease before it is sent and settled after, so two workers never both send one, and one a
crashed worker held is sent after its lease (at least once: storage/queries/notices.py).

A staff member's answer that cannot reach its resident (they opted out or blocked the bot,
their channel is off here, WhatsApp has no sender or no way outside its 24 hours) is not
dropped silently: the staff member who gave it is told, with why, as a notice of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.acks import log_retrying
from bot.channels.answers import Keyboard
from bot.channels.outbox import PermanentFailure
from bot.channels.parts import Part
from bot.channels.registration import (
    CHANNEL_OFF,
    FAILED,
    OPTED_OUT,
    Outgoing,
    Sender,
    ready,
)
from bot.runtime.i18n import Catalogues
from handlers.answering import ANSWERED_BY, UNREACHED
from handlers.poll_outcome import FORGOTTEN_ONCE_SENT
from handlers.types import Text
from storage import queries
from storage.channels import REACHABLE
from storage.db import Database
from storage.models import Notice, Person, utcnow
from storage.queries.notices import ATTEMPTS, LEASE

WHATSAPP_WINDOW = timedelta(hours=24)  # after it, WhatsApp takes only approved templates
# A notice is sent, or given up, well inside its lease, so that no other worker takes it.
SEND_WITHIN = (LEASE - timedelta(minutes=1)).total_seconds()
INTERVAL = 2.0  # seconds between looks for notices committed elsewhere
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
        senders: Mapping[str, Sender],
        files: Mapping[str, Files] | None = None,
    ) -> None:
        """`senders`: the running channels' (bot/channels/registry.py), by the person's
        channel."""
        self.db = db
        self.catalogues = catalogues
        self.senders = dict(senders)
        self.files = dict(files or {})
        self.stopping = asyncio.Event()
        self._connecting: list[asyncio.Event] = []  # the last look's channels not yet up

    async def deliver_pending(self) -> int:
        """Send the notices waiting; how many were sent."""
        # Channels still connecting are left out of this look; the next comes when one is up.
        self._connecting = [
            s.connected for s in self.senders.values() if s.connected and not ready(s)
        ]
        async with self.db.session() as session:
            waiting = await queries.unsent_notices(session, self._channels_up(), BATCH, utcnow())
        sent = 0
        for notice_id in waiting:
            if self.stopping.is_set():
                break
            claim = partial(queries.claim_notice, notice_id=notice_id, now=utcnow())
            claimed = await self.db.write(claim)
            if claimed is None:
                continue
            notice, person = claimed
            try:
                unreached = await self._send(notice, person)
            except PermanentFailure:  # refused as it is (said by the outbox): never will be
                unreached = FAILED
            except Exception:  # held until its lease ends, then tried again, then given up
                if notice.attempts < ATTEMPTS:
                    log.exception("a notice (%s) could not be sent; it is tried again", notice.key)
                    continue
                log.exception("a notice (%s) could not be sent, the last time", notice.key)
                unreached = FAILED
            await self.db.write(partial(self._settle, notice, unreached))
            sent += unreached is None
        return sent

    async def _settle(self, notice: Notice, unreached: str | None, session: AsyncSession) -> None:
        """The notice sent (or given up): forgotten or stamped, and staff told of a failure."""
        forget = notice.key in FORGOTTEN_ONCE_SENT
        await queries.settle_notice(session, notice.id, utcnow(), forget=forget)
        if unreached is not None:
            await self._tell_who_answered(session, notice, unreached)

    def _channels_up(self) -> list[str]:
        """Channels whose notices are taken now: those that can send, and those turned off
        here (their notices fail, and staff hear of it). A channel still connecting waits."""
        senders = self.senders
        return [c for c in REACHABLE if c not in senders or ready(senders[c])]

    async def _send(self, notice: Notice, person: Person) -> str | None:
        """Send the notice; None once sent, else why it did not reach the person."""
        if person.opted_out:
            return OPTED_OUT
        sender = self.senders.get(person.channel)
        if sender is None:
            return CHANNEL_OFF
        deadline = time.monotonic() + SEND_WITHIN  # sent or given up while the lease holds
        files = self.files.get(notice.key)

        async def parts() -> list[Part]:
            assert files is not None
            return await files(notice.values, person.language)

        outgoing = Outgoing(
            message=Text(notice.key, revive(notice.values)),
            keyboard=self._keyboard(notice.values.get("buttons"), person.language),
            files=parts if files is not None else None,
            window_open=window_open(notice.values),
        )
        return await sender.notify(person, outgoing, deadline)

    async def _tell_who_answered(self, session: AsyncSession, notice: Notice, why: str) -> None:
        """A staff answer that did not reach its resident: the staff member hears why."""
        staff = notice.values.get(ANSWERED_BY)
        log.warning("a notice (%s) did not reach its person: %s", notice.key, why)
        if not isinstance(staff, int) or await queries.person_by_id(session, staff) is None:
            return  # not an answer, or its staff member has used /forget since
        values: dict[str, object] = {
            "reference": notice.values.get("reference", ""),
            "why": {"t": why},
        }
        await queries.add_notice(session, staff, UNREACHED, values)

    def _keyboard(self, rows: object, language: str) -> Keyboard:
        """A notice's buttons, [[[label key, payload], …], …], labelled in the language."""
        if not isinstance(rows, list):
            return ()
        return tuple(
            tuple((self.catalogues.text(language, Text(str(k))), str(p)) for k, p in row)
            for row in rows
        )

    async def run_forever(self) -> None:
        """Until `stopping` is set: then the notice in hand is finished, and no more taken (a
        claimed notice cut off half-sent would be lost)."""
        while not self.stopping.is_set():
            self.db.notice_committed.clear()  # one committed while sending: another round
            try:
                await self.deliver_pending()
            except Exception as error:
                log_retrying(log, "sending notices failed", error)
            await self._idle()

    async def _idle(self) -> None:
        """Until a notice is committed in this process, a channel that could not send comes
        up, `stopping` is set, or INTERVAL passes (for a notice another process committed,
        or one whose claim ran out)."""
        events = {self.stopping, self.db.notice_committed, *self._connecting}
        waits = {asyncio.ensure_future(e.wait()) for e in events}
        try:
            await asyncio.wait(waits, timeout=INTERVAL, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this task is cancelled (a stop past its grace)
            for waiting in waits:
                waiting.cancel()
