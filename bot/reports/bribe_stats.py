"""What officials and digests may see of bribe reports: counts by service × outcome × month,
the median amount per service ("market rate"), and how often a bribe was asked compared
with the 2011 survey — with every count below 3 shown as "fewer than 3" (docs/architecture.md §8).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.runtime.i18n import Catalogues
from handlers.types import Text
from storage import queries
from storage.db import Database
from storage.domain import bribe_services
from storage.models import Municipality

SUPPRESS_BELOW = 3
OUTCOMES = ("paid", "refused", "not_asked", "asked")
ASKED_OUTCOMES = ("paid", "refused", "asked")  # a bribe was asked for


def shown(count: int) -> bool:
    return count >= SUPPRESS_BELOW


@dataclass(frozen=True)
class Figure:
    """A count as a reader may see it: exact; hidden (1 or 2: "fewer than 3"); or, for a
    total over hidden counts, only a lower bound ("at least n"), since the exact total
    minus the counts shown would give a hidden one away (complementary suppression)."""

    value: int | None  # None: hidden
    at_least: bool = False


def closed_months(today: date, count: int) -> list[tuple[date, date]]:
    """The `count` months that ended before `today`'s began, oldest first, as their first
    and last days: the only periods whose bribe figures are public (a month under way would
    show its count move as someone leaves an office)."""
    months = []
    last = today.replace(day=1) - timedelta(days=1)
    for _ in range(count):
        first = last.replace(day=1)
        months.append((first, last))
        last = first - timedelta(days=1)
    return months[::-1]


def cell(count: int) -> Figure:
    return Figure(None) if 0 < count < SUPPRESS_BELOW else Figure(count)


def margin(counts: list[int]) -> Figure:
    """The total of `counts`, as a reader may see it beside them."""
    total = sum(counts)
    if 0 < total < SUPPRESS_BELOW:
        return Figure(None)
    hidden = [count for count in counts if 0 < count < SUPPRESS_BELOW]
    if not hidden:
        return Figure(total)
    # Every hidden count is at least 1: the bound tells nothing the reader did not know.
    return Figure(total - sum(hidden) + len(hidden), at_least=True)


@dataclass
class ServiceStats:
    code: int
    by_outcome: dict[str, int] = field(default_factory=dict)
    by_month: dict[str, int] = field(default_factory=dict)
    amounts: list[int] = field(default_factory=list)
    survey: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_outcome.values())

    @property
    def asked(self) -> int:
        return sum(self.by_outcome.get(outcome, 0) for outcome in ASKED_OUTCOMES)

    @property
    def median_amount(self) -> int | None:
        """Only from three amounts or more: fewer would tell what one person paid."""
        return round(statistics.median(self.amounts)) if shown(len(self.amounts)) else None

    @property
    def asked_share(self) -> float | None:
        """The share of reports where a bribe was asked; withheld when either part is 1 or
        2, since the share and the total would give that small count away."""
        asked, not_asked = self.asked, self.total - self.asked
        if not shown(self.total) or any(0 < part < SUPPRESS_BELOW for part in (asked, not_asked)):
            return None
        return asked / self.total


@dataclass
class BribeStats:
    municipality: Municipality
    months: list[str]  # YYYY-MM, oldest first
    services: list[ServiceStats]
    cells: dict[tuple[int, str, str], int]  # (service, outcome, month) -> count

    @property
    def total(self) -> int:
        return sum(service.total for service in self.services)


async def collect(db: Database, municipality: Municipality, months: list[str]) -> BribeStats:
    async with db.session() as session:
        counts = await queries.bribe_counts(session, municipality.id, months)
        amounts = await queries.bribe_amounts(session, municipality.id, months)
    services = {
        int(entry["code"]): ServiceStats(int(entry["code"]), survey=entry.get("survey_pct") or {})
        for entry in bribe_services()
    }
    cells: dict[tuple[int, str, str], int] = defaultdict(int)
    for code, outcome, month, count in counts:
        service = services[code]
        service.by_outcome[outcome] = service.by_outcome.get(outcome, 0) + count
        service.by_month[month] = service.by_month.get(month, 0) + count
        cells[(code, outcome, month)] += count
    for code, amount in amounts:
        services[code].amounts.append(amount)
    return BribeStats(municipality, months, list(services.values()), dict(cells))


def render(stats: BribeStats, catalogues: Catalogues, language: str) -> str:
    """The summary as text, in one language, with small counts suppressed."""

    def say(key: str, **values: object) -> str:
        return catalogues.text(language, Text(key, values))

    def count(n: int) -> str:
        return str(n) if shown(n) else say("stats.fewer_than_3")

    period = (
        stats.months[0] if len(stats.months) == 1 else f"{stats.months[0]} – {stats.months[-1]}"
    )
    lines = [
        say("stats.title", place=stats.municipality.name(language), period=period),
        say("stats.note"),
        "",
    ]
    if stats.total == 0:
        return "\n".join([*lines, say("stats.none")])
    for service in stats.services:
        if service.total == 0:
            continue
        outcomes = {outcome: count(service.by_outcome.get(outcome, 0)) for outcome in OUTCOMES}
        months = ", ".join(
            f"{month}: {count(service.by_month.get(month, 0))}" for month in stats.months
        )
        lines.append(
            say(
                "stats.service",
                code=service.code,
                service=Text(f"service.{service.code}"),
                total=count(service.total),
            )
        )
        lines.append("   " + say("stats.outcomes", **outcomes))
        lines.append("   " + say("stats.months", months=months))
        if service.median_amount is not None:
            amount = f"{service.median_amount:,}".replace(",", " ")
            lines.append("   " + say("stats.median", amount=amount))
        if service.asked_share is not None and service.survey:
            lines.append(
                "   "
                + say(
                    "stats.share",
                    share=round(100 * service.asked_share),
                    sometimes=service.survey.get("sometimes", 0),
                    often=service.survey.get("often_or_always", 0),
                )
            )
    return "\n".join(lines)
