"""Prometheus metrics for GET /metrics: counters kept in memory, totals read from the
database at scrape time (so they survive restarts and count every worker)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from storage import queries
from storage.db import Database

REGISTRY = CollectorRegistry()

INBOUND = Counter(
    "civicbot_inbound_total",
    "Inbound actions by channel and kind (command, text, button, unsupported, duplicate).",
    ["channel", "kind"],
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "civicbot_handler_errors_total",
    "Inbound actions that failed with an error.",
    ["channel"],
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
    return generate_latest(REGISTRY)
