"""Getting each week's digest to every deputy and staff member exactly once.

`plan` writes one pending row per (municipality, week, official); workers claim rows one
at a time (bot/digests is the only sender of digests), send, and record what happened:

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
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.constants import MessageLimit
from telegram.error import NetworkError

from bot.channels.outbox import (
    Outbox,
    PermanentFailure,
    RecipientBlocked,
    split_text,
    telegram_outbox,
)
from bot.channels.parts import Part
from bot.channels.sms.channel import SmsChannel
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

WORKERS = 8
BACKOFF = (30, 120, 600, 1800, 3600)  # seconds before the 2nd, 3rd, … attempt
MAX_ATTEMPTS = len(BACKOFF) + 1
READY_WAIT = 30.0  # seconds a run waits for Telegram to connect before leaving its rows
LEASE = timedelta(minutes=15)  # a claim not renewed for this long belongs to a dead sender
SEND_WITHIN = (LEASE - timedelta(minutes=1)).total_seconds()  # one part, 429s waited out
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH

log = logging.getLogger(__name__)


class OptedOut(Exception):
    """The person sent STOP (or the carrier says so): nothing more goes to them."""


class Digests:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        catalogues: Catalogues,
        bot: Bot | None = None,
        sms: SmsChannel | None = None,
        outbox: Outbox | None = None,
        telegram_ready: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.catalogues = catalogues
        self.bot = bot
        self.sms = sms
        # The service's one outbox; a command that sends digests on its own makes its own.
        if outbox is None and bot is not None:
            outbox = telegram_outbox(bot, db, settings)
        self.outbox = outbox
        # Set once the bot has connected; until then Telegram rows wait unclaimed.
        self.telegram_ready = telegram_ready
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
        if self.bot is not None and self.telegram_ready is not None:
            await self._wait_for_telegram(self.telegram_ready)
        self._digests.clear()
        self._parts.clear()
        sent = await asyncio.gather(*(self._worker() for _ in range(WORKERS)))
        return sum(sent)

    async def _wait_for_telegram(self, ready: asyncio.Event) -> None:
        """A start that has not connected yet: wait a little, unless the service stops."""
        waits = [asyncio.create_task(event.wait()) for event in (ready, self.stopping)]
        _, pending = await asyncio.wait(
            waits, timeout=READY_WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()

    def _channels(self) -> list[str]:
        ready = self.telegram_ready is None or self.telegram_ready.is_set()
        channels = ["telegram"] if self.bot is not None and ready else []
        return channels + (["sms", "whatsapp"] if self.sms is not None else [])

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
            if person.channel == "telegram":
                await self._send_telegram(delivery)
            else:
                await self._send_sms(delivery)
            return await self._finish(delivery, "sent")
        except RecipientBlocked:  # the outbox has marked the person opted out
            return await self._finish(delivery, "skipped", "blocked the bot")
        except OptedOut:
            return await self._finish(delivery, "skipped", "opted out")
        except PermanentFailure as error:
            return await self._finish(delivery, "failed", str(error))
        except (NetworkError, OSError) as error:  # 5xx, timeouts, StillFailing, a failed SMS
            return await self._retry_later(delivery, str(error) or type(error).__name__)
        except Exception as error:  # never let one recipient stop the fan-out
            log.exception("digest delivery %d failed", delivery.id)
            return await self._retry_later(delivery, f"{type(error).__name__}: {error}")

    async def _send_telegram(self, delivery: DigestDelivery) -> None:
        parts = await self.parts(
            delivery.municipality,
            delivery.period,
            delivery.person.language,
            delivery.role == "staff",
        )
        for index in range(delivery.messages, len(parts)):
            await self.send_part(int(delivery.person.channel_user_id), parts[index])
            async with self.db.session() as session, session.begin():
                row = await queries.digest_delivery(session, delivery.id)
                row.messages, row.claimed_at = index + 1, utcnow()  # renews the claim

    async def _send_sms(self, delivery: DigestDelivery) -> None:
        assert self.sms is not None  # only claimed when SMS can be sent
        digest = await self.digest(delivery.municipality, delivery.period)
        summary = text.sms_summary(digest, self.catalogues, delivery.person.language)
        if self.outbox is not None:
            await self.outbox.pacer.wait()  # one pace for everything broadcast
        # A weekly digest is never an answer within WhatsApp's 24 hours: it goes as the
        # approved template, or without one by SMS to the same number (SmsChannel.send).
        record = await self.sms.send(delivery.person, summary, window_open=False)
        if record is None or record.error_code == 21610:
            raise OptedOut  # SmsChannel has marked the person
        if record.status == "failed":
            raise OSError(f"SMS failed ({record.error_code})")

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

    # --- one message, at the common pace --------------------------------------------------

    async def send_part(self, chat_id: int, part: Part) -> None:
        """Send one message through the outbox at the broadcast pace, waiting out 429s;
        RecipientBlocked, StillFailing and PermanentFailure tell the caller what went wrong (a
        failed delivery is retried on this module's own schedule, BACKOFF)."""
        assert self.outbox is not None
        deadline = time.monotonic() + SEND_WITHIN  # inside the claim this part renews
        await self.outbox.send(
            chat_id, part.call(chat_id), network_retries=False, deadline=deadline
        )

    # --- what is sent -------------------------------------------------------------------------

    async def digest(self, municipality: Municipality, period: str) -> Digest:
        """The week's digest of a municipality, read once per run for all its officials."""
        key = (municipality.id, period)
        async with self._building:
            if key not in self._digests:
                self._digests[key] = await self._collect(municipality, period)
            return self._digests[key]

    async def _collect(self, municipality: Municipality, period: str) -> Digest:
        today = utcnow().astimezone(ZoneInfo(self.settings.timezone)).date()
        async with self.db.session() as session:
            return await collect(
                session, municipality, Week.parse(period), self.settings.timezone, today
            )

    async def parts(
        self, municipality: Municipality, period: str, language: str, with_table: bool
    ) -> list[Part]:
        key = (municipality.id, period, language, with_table)
        if key not in self._parts:
            digest = await self.digest(municipality, period)
            self._parts[key] = await self.compose(digest, language, with_table)
        return self._parts[key]

    async def compose(self, digest: Digest, language: str, with_table: bool) -> list[Part]:
        """The Telegram messages of a digest: text, chart, and the CSV for staff."""
        body = text.render(digest, self.catalogues, language, known_username(self.bot))
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

    async def send_now(self, chat_id: int, language: str, order: DigestOrder) -> None:
        """A digest asked for with /digest: built afresh, sent straight away, no row kept."""
        async with self.db.session() as session:
            municipality = await session.get(Municipality, order.municipality_id)
        assert municipality is not None
        digest = await self._collect(municipality, order.period)  # as of now, not cached
        for part in await self.compose(digest, language, order.with_table):
            await self.send_part(chat_id, part)


def known_username(bot: Bot | None) -> str | None:
    """The bot's @name once it has asked Telegram (getMe); None before."""
    try:
        return bot.username if bot is not None else None
    except RuntimeError:  # not initialised
        return None


def tally_line(week: Week, tally: dict[str, int]) -> str:
    order = ("sent", "pending", "sending", "skipped", "failed", "interrupted")
    counts = ", ".join(f"{status} {tally.get(status, 0)}" for status in order)
    return f"{week}: {counts}"
