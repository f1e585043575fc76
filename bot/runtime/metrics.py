"""Prometheus metrics for GET /metrics: counters kept in memory, totals read from the
database at a scrape, at most once a minute (so they survive restarts and count every
worker).

By Prometheus' conventions: no `_created` series (they double the output and no alert reads
them); every family present from the start, its known label values at 0, so that a query
finds a series before the first event; a moment not yet known (no contact from the gateway,
a job never run) is an absent sample, never 0 (which reads as 1970)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.runtime.backups import BACKUP_FOLDER
from bot.runtime.build import version
from handlers.log_fields import fields
from handlers.types import Inbound, Outcome
from storage import domain, queries
from storage.backup import ARCHIVE_NAME
from storage.channels import CARD, SMS, TELEGRAM, TRAITS, WEB, WHATSAPP
from storage.db import Database

log = logging.getLogger(__name__)

TOTALS_EVERY_S = 60.0  # the database's totals, read again at most this often (`Totals`)

disable_created_metrics()  # process-wide in prometheus_client: this registry is the only one
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, CPU seconds, open fds


class Moment(Collector):
    """A gauge of a Unix time that has no sample until the moment is known."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.value: float | None = None
        registry.register(self)

    def set_to_current_time(self) -> None:
        self.value = time.time()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation)
        if self.value is not None:
            family.add_metric([], self.value)
        yield family


BUILD = Info("civicbot_build", "The running version.", registry=REGISTRY)
BUILD.info({"version": version()})
HTTP_REQUEST_DURATION = Histogram(
    "civicbot_http_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint and status class (2xx, 4xx, 5xx).",
    ["endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
NOT_KEPT = Counter(
    "civicbot_inbound_not_kept_total",
    "Inbound deliveries answered 5xx because their writes could not be committed, by reason.",
    ["channel", "reason"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "civicbot_outbox_depth",
    "Messages queued in this process, by channel (telegram, sms).",
    ["channel"],
    registry=REGISTRY,
)
OUTBOX_SENDS = Counter(
    "civicbot_outbox_sends_total",
    "Send attempts by channel and result (sent, retry_after, network_retry, blocked, failed).",
    ["channel", "result"],
    registry=REGISTRY,
)
OUTBOX_GIVEN_UP = Counter(
    "civicbot_outbox_given_up_total",
    "Messages given up, by channel and why: refused, rate_limited (429s for longer than "
    "SEND_GIVE_UP_MINUTES), failing (network or 5xx after every retry), with_previous (the "
    "rest of an answer whose earlier message was given up so).",
    ["channel", "reason"],
    registry=REGISTRY,
)
DIGEST_DELIVERIES = Gauge(
    "civicbot_digest_deliveries",
    "Digest deliveries of the latest planned week, by status.",
    ["status"],
    registry=REGISTRY,
)
LAST_JOB_RUN = Gauge(
    "civicbot_scheduler_last_success_timestamp_seconds",
    "When each scheduled job last finished without an error (Unix time; never: no sample).",
    ["job"],
    registry=REGISTRY,
)

INBOUND = Counter(
    "civicbot_inbound_total",
    "Inbound actions by channel and kind (command, text, button, pictures, location, unsupported, "
    "duplicate).",
    ["channel", "kind"],
    registry=REGISTRY,
)
SIGNATURES_REFUSED = Counter(
    "civicbot_signatures_refused_total",
    "Signatures not taken, by channel and reason (usage, unknown, not_open, pin, name, already, "
    "flood, sender_limit).",
    ["channel", "reason"],
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "civicbot_handler_errors_total",
    "Inbound actions that failed with an error.",
    ["channel"],
    registry=REGISTRY,
)
GATEWAY_CONTACT = Moment(
    "civicbot_sms_gateway_last_contact_timestamp_seconds",
    "When the Android SMS gateway last sent a signed webhook (Unix time; none yet: no sample).",
    REGISTRY,
)
BACKUP_NEWEST = Moment(
    "civicbot_backup_newest_timestamp_seconds",
    "When the newest civicbot-backup-*.tar.gz in ./backups was written (Unix time, its mtime; "
    "none: no sample).",
    REGISTRY,
)
WEBHOOK_REJECTED = Counter(
    "civicbot_webhook_rejected_total",
    "Webhook requests refused, by reason (secret, malformed).",
    ["endpoint", "reason"],
    registry=REGISTRY,
)
WISHES = Gauge("civicbot_wishes", "Wishes stored, by kind.", ["kind"], registry=REGISTRY)
PEOPLE = Gauge(
    "civicbot_people", "People known to the bot, by channel.", ["channel"], registry=REGISTRY
)


# The label values known in advance, shown at 0 from the start. The inbound channels are those
# that count their messages (Telegram, and SMS and WhatsApp through the SMS webhooks).
INBOUND_CHANNELS = (TELEGRAM, SMS, WHATSAPP)
INBOUND_KINDS = {
    TELEGRAM: ("command", "text", "button", "pictures", "location", "unsupported", "duplicate"),
    SMS: ("command", "text", "unsupported", "duplicate"),
    WHATSAPP: ("command", "text", "unsupported", "duplicate"),
    WEB: ("command", "text", "button", "duplicate"),  # the web chat: counted, nothing refused
}
NOT_KEPT_REASONS = ("database", "fault")  # bot/channels/acks.py, reason()
REFUSALS = ("usage", "unknown", "not_open", "pin", "name", "already", "flood", "sender_limit")
OUTBOX_CHANNELS = (TELEGRAM, SMS)  # WhatsApp is sent through the SMS channel's outbox
SEND_RESULTS = ("sent", "retry_after", "network_retry", "blocked", "failed")
GIVE_UP_REASONS = ("refused", "rate_limited", "failing", "with_previous", "shutdown")
DELIVERY_STATUSES = ("pending", "sending", "sent", "skipped", "failed", "interrupted")
WEBHOOK_REFUSALS = {
    "telegram": ("secret", "malformed"),
    "twilio": ("signature", "malformed"),
    "android": ("signature", "malformed"),
}
PEOPLE_CHANNELS = tuple(name for name in TRAITS if name != CARD)  # a card is no person


def _known_labels() -> None:
    for channel, kinds in INBOUND_KINDS.items():
        _each(INBOUND, channel, kinds)
    for channel in INBOUND_CHANNELS:
        HANDLER_ERRORS.labels(channel)
        _each(NOT_KEPT, channel, NOT_KEPT_REASONS)
        _each(SIGNATURES_REFUSED, channel, REFUSALS)
    for channel in OUTBOX_CHANNELS:
        OUTBOX_DEPTH.labels(channel)
        _each(OUTBOX_SENDS, channel, SEND_RESULTS)
        _each(OUTBOX_GIVEN_UP, channel, GIVE_UP_REASONS)
    for endpoint, reasons in WEBHOOK_REFUSALS.items():
        _each(WEBHOOK_REJECTED, endpoint, reasons)


def _each(family: Counter, first: str, seconds: Iterable[str]) -> None:
    for second in seconds:
        family.labels(first, second)


_known_labels()


class Totals:
    """The totals /metrics reads from the database (wishes by kind, people by channel, the
    newest week's digest deliveries), read again only once they are TOTALS_EVERY_S old: the
    wishes' count is a scan of the table, about 0.3 s of CPU at a million wishes on SQLite, and
    Prometheus scrapes every worker every 15 s or so. One per /metrics route."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.read_at: float | None = None

    async def refresh(self, db: Database) -> None:
        now = self.clock()
        if self.read_at is not None and now - self.read_at < TOTALS_EVERY_S:
            return
        async with db.session() as session:
            wishes = await queries.count_wishes_by_kind(session)
            people = await queries.count_people_by_channel(session)
            deliveries = await queries.latest_digest_tally(session)
        _set_all(WISHES, wishes, domain.wish_kinds())
        _set_all(PEOPLE, people, PEOPLE_CHANNELS)
        _set_all(DIGEST_DELIVERIES, deliveries, DELIVERY_STATUSES)
        self.read_at = now


async def render(db: Database, totals: Totals) -> bytes:
    await totals.refresh(db)
    BACKUP_NEWEST.value = newest_archive_time(Path(BACKUP_FOLDER))
    return generate_latest(REGISTRY)


def newest_archive_time(folder: Path) -> float | None:
    """The mtime of the newest backup archive in `folder` (relative: the working directory,
    /var/lib/civicbot under systemd, where the backup timer writes); None when there is none."""
    newest: float | None = None
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no backups folder yet (or not ours to read): no archive to show
        return None
    for entry in entries:
        if not ARCHIVE_NAME.match(entry.name):
            continue
        try:
            modified = entry.stat().st_mtime
        except OSError:  # pruned by `civicbot backup --keep` since the listing
            continue
        newest = modified if newest is None else max(newest, modified)
    return newest


def _set_all(gauge: Gauge, counts: dict[str, int], known: Iterable[str]) -> None:
    """Every known label at its count, 0 where the database has none (and any other label
    the database holds, as it is)."""
    for label in (*known, *counts):
        gauge.labels(label).set(counts.get(label, 0))


def kind_of(inbound: Inbound) -> str:
    """An action's kind as civicbot_inbound_total counts it, for the channels whose kinds
    the action itself tells (Telegram names its own from the update: pictures, location)."""
    if inbound.button:
        return "button"
    if inbound.command:
        return "command"
    return "unsupported" if inbound.unsupported else "text"


def counted(channel: str, kind: str, outcome: Outcome | None) -> None:
    """One inbound action handled: counted by kind, and a refused signature by its reason
    (logged with the reason alone: never the number, the name or the PIN)."""
    INBOUND.labels(channel, "duplicate" if outcome is None else kind).inc()
    if outcome is not None and outcome.refusal is not None:
        SIGNATURES_REFUSED.labels(channel, outcome.refusal).inc()
        log.info(
            "a signature by %s was refused: %s",
            channel,
            outcome.refusal,
            extra=fields("signature_refused", channel=channel, outcome=outcome.refusal),
        )
