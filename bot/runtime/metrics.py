"""Prometheus metrics for GET /metrics: counters kept in memory, totals read from the
database at scrape time (so they survive restarts and count every worker)."""

from __future__ import annotations

import logging

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from handlers.types import Outcome
from storage import queries
from storage.db import Database

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, CPU seconds, open fds

REQUEST_SECONDS = Histogram(
    "civicbot_request_seconds",
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
    "When each scheduled job last finished without an error (Unix time).",
    ["job"],
    registry=REGISTRY,
)

INBOUND = Counter(
    "civicbot_inbound_total",
    "Inbound actions by channel and kind (command, text, button, unsupported, duplicate).",
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
GATEWAY_CONTACT = Gauge(
    "civicbot_sms_gateway_last_contact_timestamp_seconds",
    "When the Android SMS gateway last sent a signed webhook (Unix time).",
    registry=REGISTRY,
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


async def render(db: Database) -> bytes:
    async with db.session() as session:
        for kind, count in (await queries.count_wishes_by_kind(session)).items():
            WISHES.labels(kind).set(count)
        for channel, count in (await queries.count_people_by_channel(session)).items():
            PEOPLE.labels(channel).set(count)
        for status, count in (await queries.latest_digest_tally(session)).items():
            DIGEST_DELIVERIES.labels(status).set(count)
    return generate_latest(REGISTRY)


def counted(channel: str, kind: str, outcome: Outcome | None) -> None:
    """One inbound action handled: counted by kind, and a refused signature by its reason
    (logged with the reason alone: never the number, the name or the PIN)."""
    INBOUND.labels(channel, "duplicate" if outcome is None else kind).inc()
    if outcome is not None and outcome.refusal is not None:
        SIGNATURES_REFUSED.labels(channel, outcome.refusal).inc()
        log.info("a signature by %s was refused: %s", channel, outcome.refusal)
