"""Sending polls: the rows `civicbot poll send` (or a staff member's /poll) planned, one per
recipient, sent on each person's channel and in their language through that channel's
sender and outbox (bot/channels/registration.py `Sender.notify`), and closing polls whose
time is up.

One loop per channel, so that Telegram's 30 a second never holds SMS back: each claims a few
rows at a time for a lease (storage/queries/poll_sends.py), sends them side by side (each
channel's outbox keeps its pace) and settles each at once. A worker killed mid-send leaves
at most those few claimed: sent again once the lease ends. Nothing is dropped silently: a
row that cannot go is skipped (opted out, blocked, the poll closed) or failed, with why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import poll_message
from bot.channels.acks import log_retrying
from bot.channels.outbox import PermanentFailure
from bot.channels.registration import (
    BLOCKED,
    CHANNEL_OFF,
    FAILED,
    OPTED_OUT,
    Outgoing,
    Sender,
    ready,
)
from bot.runtime.i18n import Catalogues
from storage import queries
from storage.channels import PAID_PER_MESSAGE, REACHABLE, WHATSAPP
from storage.db import Database
from storage.models import Person, Poll, PollOption, utcnow
from storage.queries.poll_sends import ATTEMPTS, CLOSED, LEASE

INTERVAL = 2.0  # seconds between looks for rows planned elsewhere (or freed by a lease)
BATCH = 16  # rows in flight per loop: the most a killed worker leaves to send again
REFILL = 4  # claimed together once so many have gone (fewer claims than one per row)
SEND_WITHIN = (LEASE - (LEASE / 10)).total_seconds()  # each send given up inside its lease
NOT_SENT = {OPTED_OUT: "opted_out", BLOCKED: "blocked"}  # skipped, not failed

log = logging.getLogger(__name__)


def sending_lock(channel: str) -> int:
    """The PostgreSQL advisory lock of the worker sending a channel's polls (the same
    number in every worker)."""
    return zlib.crc32(f"civicbot poll sending {channel}".encode())


class PollSender:
    def __init__(
        self, db: Database, catalogues: Catalogues, senders: Mapping[str, Sender], zone: str
    ) -> None:
        self.db = db
        self.catalogues = catalogues
        self.senders = dict(senders)
        self.zone = zone  # TIMEZONE: the closing day as residents read it
        self.stopping = asyncio.Event()
        self._options: dict[int, Sequence[PollOption]] = {}  # by poll id: read once

    # --- one channel -------------------------------------------------------------------------

    async def claim(self, channel: str, most: int) -> tuple[list[int], Sender | None]:
        """Up to `most` of the channel's rows, held for the lease; none while its sender is
        off or still connecting."""
        sender = self.senders.get(channel)
        if sender is None or not ready(sender) or most <= 0:
            return [], sender
        claimed = await self.db.write(
            lambda session: queries.claim_sends(session, [channel], most, utcnow())
        )
        return list(claimed), sender

    async def _send_one(self, send_id: int, sender: Sender) -> None:
        async with self.db.session() as session:
            row = await queries.claimed_send(session, send_id)
            if row is None:
                return
            send, poll, person = row
            options = await self._options_of(session, poll)
        status, note = "sent", None
        try:
            why = await self._deliver(poll, options, person, sender)
        except PermanentFailure as refused:  # the channel refused it: never will take it
            why, note = FAILED, str(refused) or FAILED
        except Exception:  # held until its lease ends, then tried again, then given up
            if send.attempts < ATTEMPTS:
                log.exception("a poll could not be sent to one person; it is tried again")
                return
            log.exception("a poll could not be sent to one person, the last time")
            why = FAILED
        if why is not None:
            status = "skipped" if why in NOT_SENT or why == CLOSED else "failed"
            note = NOT_SENT.get(why, note or why)
        await self.db.write(
            lambda session: queries.settle_send(
                session, send_id, status, utcnow(), note, send.claimed_at
            )
        )

    async def _deliver(
        self, poll: Poll, options: Sequence[PollOption], person: Person, sender: Sender
    ) -> str | None:
        """None once sent, else why not (a key of registration.py, or CLOSED)."""
        if not poll.answering(utcnow()):  # closed, rejected or withdrawn since it was planned
            return CLOSED
        if person.opted_out:
            return OPTED_OUT
        language = person.language
        deadline = time.monotonic() + SEND_WITHIN
        if person.channel in PAID_PER_MESSAGE or person.channel == WHATSAPP:
            # One segment, options as numbers; WhatsApp outside its 24 hours takes the
            # approved template or goes by SMS (SmsChannel.send), as notices do.
            text = poll_message.sms_message(poll, options, self.catalogues, language)
            return await sender.notify(person, Outgoing(message=text), deadline)
        outgoing = poll_message.telegram_message(
            poll, options, self.catalogues, language, self.zone
        )
        return await sender.notify(person, outgoing, deadline)

    async def _options_of(self, session: AsyncSession, poll: Poll) -> Sequence[PollOption]:
        if poll.id not in self._options:
            self._options[poll.id] = list(await queries.options_of(session, poll.id))
        return self._options[poll.id]

    # --- the loops ---------------------------------------------------------------------------

    async def run_channel(self, channel: str) -> None:
        """Until `stopping`, the channel's sending in one worker at a time: on PostgreSQL the
        worker holding the channel's advisory lock sends (a channel's pace, Telegram's 30 a
        second, is each process's own: N workers sending at once would send N times as
        fast), the others look again now and then and take over when it stops."""
        while not self.stopping.is_set():
            async with self.db.exclusive(sending_lock(channel)) as mine:
                if mine:
                    await self._send_channel(channel)
            await self._pause()

    async def _send_channel(self, channel: str) -> None:
        """Until `stopping`: BATCH rows in flight at most, more claimed as soon as REFILL
        have gone (the channel's pace is kept fed: claiming the next batch only once the last
        was done left the outbox idle in between, 0.82 of Telegram's limit; at half gone,
        0.89); a pause when there are none. The rows in flight are finished when stopping (a
        claim cut off half-sent waits out its lease)."""
        flying: set[asyncio.Task[None]] = set()
        while not self.stopping.is_set():
            claimed: list[int] = []
            if len(flying) <= BATCH - REFILL:
                try:
                    claimed, sender = await self.claim(channel, BATCH - len(flying))
                except Exception as failed:
                    log_retrying(log, f"sending polls by {channel} failed", failed)
                for send_id in claimed:
                    assert sender is not None
                    flying.add(asyncio.create_task(self._send_one(send_id, sender)))
            if not flying:
                await self._pause()
                continue
            done, flying = await asyncio.wait(flying, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if (error := task.exception()) is not None:  # its row waits out its lease
                    log.error("a poll's send failed in the database: %r", error)
        if flying:
            await asyncio.wait(flying)

    async def run_housekeeping(self) -> None:
        """Until `stopping`: polls past their time closed (once, whichever worker comes
        first), and rows on channels turned off here failed with why."""
        while not self.stopping.is_set():
            try:
                await self.close_due()
                await self.fail_channels_off()
            except Exception as failed:
                log_retrying(log, "closing polls failed", failed)
            await self._pause()

    async def close_due(self) -> Sequence[str]:
        closed = await self.db.write(lambda session: queries.close_due_polls(session, utcnow()))
        for code in closed:
            log.info("poll %s closed: its time is up", code)
        return closed

    async def fail_channels_off(self) -> int:
        off = [channel for channel in REACHABLE if channel not in self.senders]
        if not off:
            return 0
        return await self.db.write(
            lambda session: queries.fail_unsendable(session, off, CHANNEL_OFF, utcnow())
        )

    def tasks(self) -> list[asyncio.Task[None]]:
        """The loops, started: one per channel that can send here, and the housekeeping."""
        loops = [
            asyncio.create_task(self.run_channel(channel), name=f"polls-{channel}")
            for channel in self.senders
            if channel in REACHABLE
        ]
        return [*loops, asyncio.create_task(self.run_housekeeping(), name="polls-closing")]

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), INTERVAL)
