"""Getting each week's digest to every deputy and staff member exactly once.

`plan` writes one pending row per (municipality, week, official); workers claim rows one
at a time (bot/digests is the only sender of digests), send, and record what happened:

Each person's channel sends it its own way (its sender, bot/channels/registry.py):

- Telegram: the text (split under 4,096 characters), the chart as a photo with a caption
  under 1,024, and for staff the week's wishes as a CSV document. Progress is saved after
  each message, so a retry after a failure resumes where it stopped.
- SMS or WhatsApp: a summary of at most two segments.
- Every message goes through the service's outbox (bot/channels/outbox.py) at its broadcast pace;
  a 429 holds the pace for its retry_after and the message is sent again.
- Blocked the bot or opted out: the person is marked and the row skipped. A 5xx or a
  network failure: the row waits BACKOFF[attempt] and is retried, MAX_ATTEMPTS in all.
- A row left "sending" by a sender that died is marked interrupted after LEASE and is not
  sent again: part of it may have arrived, and a digest must not arrive twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.channels import registry
from bot.channels.outbox import PermanentFailure, RecipientBlocked, split_text
from bot.channels.parts import Part
from bot.channels.registration import OptedOut, Sender, ready
from bot.digests import chart, text
from bot.digests.content import Digest, collect
from bot.reports.export import staff_csv
from bot.reports.wording import sayer
from bot.runtime.config import Settings
from bot.runtime.i18n import Catalogues
from bot.web import photo_links
from handlers.types import DigestOrder
from handlers.weeks import Week
from storage import queries
from storage.db import Database
from storage.models import DigestDelivery, Municipality, utcnow

if TYPE_CHECKING:
    from bot.channels.sms.channel import SmsChannel
    from bot.channels.telegram.bot_api import BotApi

WORKERS = 8
BACKOFF = (30, 120, 600, 1800, 3600)  # seconds before the 2nd, 3rd, … attempt
MAX_ATTEMPTS = len(BACKOFF) + 1
READY_WAIT = 30.0  # seconds a run waits for Telegram to connect before leaving its rows
LEASE = timedelta(minutes=15)  # a claim not renewed for this long belongs to a dead sender
SEND_WITHIN = (LEASE - timedelta(minutes=1)).total_seconds()  # one part, 429s waited out
# Telegram's limit on a caption (the Bot API's sendPhoto: 0-1024 characters), written out here:
# a server without Telegram does not import the Telegram channel (tests/test_footprint.py holds
# it equal to python-telegram-bot's constant).
CAPTION_LIMIT = 1024

log = logging.getLogger(__name__)


class Digests:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        catalogues: Catalogues,
        bot: BotApi | None = None,
        sms: SmsChannel | None = None,
        senders: Mapping[str, Sender] | None = None,
    ) -> None:
        """`senders`: the running channels' (bot/channels/registry.py), by the person's
        channel; a command that sends digests on its own gives the `bot` and `sms` it opened."""
        self.settings = settings
        self.db = db
        self.catalogues = catalogues
        if senders is None:
            senders = registry.command_senders(settings, db, catalogues, bot, sms)
        self.senders = dict(senders)
        self.send_within = SEND_WITHIN
        self._digests: dict[tuple[int, str], Digest] = {}  # built once per run
        self._parts: dict[tuple[int, str, str, bool], list[Part]] = {}
        self._building = asyncio.Lock()
        self.stopping = asyncio.Event()  # set when the service stops: claim nothing more

    # --- planning and the fan-out ------------------------------------------------------------

    async def run(self, week: Week, municipality: Municipality | None = None) -> dict[str, int]:
        """Plan this week's digests and send everything due; the week's rows by status."""
        await self.plan(week, municipality)
        await self.deliver_due()
        async with self.db.session() as session:
            return await queries.digest_tally(session, str(week))

    async def plan(self, week: Week, municipality: Municipality | None = None) -> int:
        async with self.db.session() as session, session.begin():
            place = municipality.id if municipality is not None else None
            return await queries.plan_digests(session, str(week), place, utcnow())

    async def deliver_due(self) -> int:
        """Send every delivery that is due, WORKERS at a time; how many were sent."""
        async with self.db.session() as session, session.begin():
            stale = await queries.interrupt_stale_digests(session, utcnow() - LEASE)
        if stale:
            log.warning("%d digest deliveries were interrupted and will not be resent", stale)
        await self._wait_for_connections()
        self._digests.clear()
        self._parts.clear()
        sent = await asyncio.gather(*(self._worker() for _ in range(WORKERS)))
        return sum(sent)

    async def _wait_for_connections(self) -> None:
        """A start whose channels have not connected yet (Telegram): wait a little for
        them, unless the service stops; until then their rows wait unclaimed."""
        events = {s.connected for s in self.senders.values() if s.connected is not None}
        if not events:
            return

        async def connected() -> None:
            await asyncio.gather(*(event.wait() for event in events))

        waits = [asyncio.create_task(connected()), asyncio.create_task(self.stopping.wait())]
        _, pending = await asyncio.wait(
            waits, timeout=READY_WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()

    def _channels(self) -> list[str]:
        """The people's channels whose rows are claimed now: those that can send."""
        return [channel for channel, sender in self.senders.items() if ready(sender)]

    async def _worker(self) -> int:
        sent = 0
        while not self.stopping.is_set():
            async with self.db.session() as session, session.begin():
                delivery = await queries.claim_digest(session, self._channels(), utcnow())
            if delivery is None:
                return sent
            status = await self._deliver(delivery)
            sent += status == "sent"
        return sent

    async def _deliver(self, delivery: DigestDelivery) -> str:
        person = delivery.person
        try:
            if person.opted_out:
                return await self._finish(delivery, "skipped", "opted out")
            # Only claimed for a channel with a sender (`_channels`).
            await self.senders[person.channel].send_digest(delivery, self)
            return await self._finish(delivery, "sent")
        except RecipientBlocked:  # the outbox has marked the person opted out
            return await self._finish(delivery, "skipped", "blocked the bot")
        except OptedOut:
            return await self._finish(delivery, "skipped", "opted out")
        except PermanentFailure as error:
            return await self._finish(delivery, "failed", str(error))
        except OSError as error:  # 5xx, timeouts, StillFailing, a failed SMS
            return await self._retry_later(delivery, str(error) or type(error).__name__)
        except Exception as error:  # never let one recipient stop the fan-out
            log.exception("digest delivery %d failed", delivery.id)
            return await self._retry_later(delivery, f"{type(error).__name__}: {error}")

    # --- what a sender asks for (bot/channels/registration.py `DigestSource`) -----------------

    async def parts(self, delivery: DigestDelivery, username: str | None) -> list[Part]:
        """The delivery's text, chart and (for staff) table, in the person's language."""
        return await self._parts_of(
            delivery.municipality,
            delivery.period,
            delivery.person.language,
            delivery.role == "staff",
            username,
        )

    async def summary(self, delivery: DigestDelivery) -> str:
        digest = await self.digest(delivery.municipality, delivery.period)
        return text.sms_summary(digest, self.catalogues, delivery.person.language)

    async def sent(self, delivery: DigestDelivery, messages: int) -> None:
        async with self.db.session() as session, session.begin():
            row = await queries.digest_delivery(session, delivery.id)
            row.messages, row.claimed_at = messages, utcnow()  # renews the claim

    async def paced(self) -> None:
        """One pace for everything broadcast: that of the channels that set one."""
        for sender in self.senders.values():
            if sender.pacer is not None:
                await sender.pacer.wait()

    async def _finish(self, delivery: DigestDelivery, status: str, error: str | None = None) -> str:
        if status == "failed":  # given up: the operator needs to know which and why
            log.error(
                "digest %s for %s by %s failed for good: %s",
                delivery.period,
                delivery.municipality.key,
                delivery.person.channel,
                error,
            )
        async with self.db.session() as session, session.begin():
            row = await queries.digest_delivery(session, delivery.id)
            row.status, row.finished_at = status, utcnow()
            row.error = error[:200] if error else row.error
        return status

    async def _retry_later(self, delivery: DigestDelivery, error: str) -> str:
        if delivery.attempts >= MAX_ATTEMPTS:
            return await self._finish(delivery, "failed", error)
        log.warning("digest %d: attempt %d failed (%s)", delivery.id, delivery.attempts, error)
        async with self.db.session() as session, session.begin():
            row = await queries.digest_delivery(session, delivery.id)
            row.status, row.error = "pending", error[:200]
            row.next_attempt_at = utcnow() + timedelta(seconds=BACKOFF[delivery.attempts - 1])
        return "pending"

    # --- what is sent -------------------------------------------------------------------------

    async def digest(self, municipality: Municipality, period: str) -> Digest:
        """The week's digest of a municipality, read once per run for all its officials."""
        key = (municipality.id, period)
        async with self._building:
            if key not in self._digests:
                self._digests[key] = await self._collect(municipality, period)
            return self._digests[key]

    def _today(self) -> date:
        return utcnow().astimezone(ZoneInfo(self.settings.timezone)).date()

    async def _collect(self, municipality: Municipality, period: str) -> Digest:
        async with self.db.session() as session:
            return await collect(
                session,
                municipality,
                Week.parse(period),
                self.settings.timezone,
                self._today(),
                self.settings.appeal_answer_days,
            )

    async def _parts_of(
        self,
        municipality: Municipality,
        period: str,
        language: str,
        with_table: bool,
        username: str | None,
    ) -> list[Part]:
        key = (municipality.id, period, language, with_table)
        if key not in self._parts:
            digest = await self.digest(municipality, period)
            self._parts[key] = await self.compose(digest, language, with_table, username)
        return self._parts[key]

    async def compose(
        self, digest: Digest, language: str, with_table: bool, username: str | None
    ) -> list[Part]:
        """The Telegram messages of a digest: text, chart, and the CSV for staff;
        `username`: the bot's @name, when known."""
        body = text.render(digest, self.catalogues, language, username)
        parts = [Part("text", piece) for piece in split_text(body)]
        picture = await asyncio.to_thread(chart.draw, digest, self.catalogues, language)
        name = f"{digest.municipality.key}-{digest.week}"
        if picture is not None:
            caption = text.caption(digest, self.catalogues, language)[:CAPTION_LIMIT]
            parts.append(Part("photo", caption, picture, f"digest-{name}.png"))
        if with_table and digest.week_wishes:
            say = sayer(self.catalogues, language)
            caption = say("digest.csv_caption", count=len(digest.week_wishes))
            async with self.db.session() as session:
                links = await photo_links.staff_links(session, self.settings, digest.week_wishes)
            table = staff_csv(
                digest.week_wishes, self.settings.timezone, self.catalogues, language, links
            )
            parts.append(Part("document", caption, table, f"wishes-{name}.csv"))
        return parts

    async def compose_now(
        self, language: str, order: DigestOrder, username: str | None
    ) -> list[Part]:
        """A digest asked for with /digest: built afresh (the channel sends it straight
        away, and no row is kept)."""
        async with self.db.session() as session:
            municipality = await session.get(Municipality, order.municipality_id)
        assert municipality is not None
        # Built for this order, not kept for a run; the country's answers on time in it are
        # read_all's, kept up to bot/digests/accountability.KEPT_SECONDS.
        digest = await self._collect(municipality, order.period)
        parts = await self.compose(digest, language, order.with_table, username)
        return parts + await self._week_so_far(municipality, digest.week, language, username)

    async def _week_so_far(
        self, municipality: Municipality, shown: Week, language: str, username: str | None
    ) -> list[Part]:
        """Beside a finished week's digest, the week under way as far as it has gone (its
        text only): mid-week, last week's may be quiet while this week's wishes wait."""
        current = Week.of(self._today())
        if current == shown:
            return []
        digest = await self._collect(municipality, str(current))
        if digest.quiet:
            return []
        # Answers on time (four weeks) and overdue appeals: shown once, with the finished
        # week's digest.
        body = text.render(
            replace(digest, accountability=None, overdue=[]), self.catalogues, language, username
        )
        return [Part("text", piece) for piece in split_text(body)]


def tally_line(week: Week, tally: dict[str, int]) -> str:
    order = ("sent", "pending", "sending", "skipped", "failed", "interrupted")
    counts = ", ".join(f"{status} {tally.get(status, 0)}" for status in order)
    return f"{week}: {counts}"
