"""The statistics JSON of one municipality (`GET /stats/KEY.json`, docs/open-data.md): wishes
by kind, topic, status and week; bribe reports by service for each of the last completed
months only — never the month under way, whose count would move as someone leaves an office
— with every count of 1 or 2 withheld (null) and totals over them given only as a lower
bound, as in digests; open initiatives' progress; campaigns; polls (an open one's answers so
far, a closed one's results with cells under 5 people withheld: bot/reports/poll_results.py);
answers on time over the last 4 and 12 weeks (bot/reports/accountability.py). Counts only:
no text, no person."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports import accountability
from bot.reports import poll_results as poll_report
from bot.reports.bribe_stats import Figure, cell, closed_months, margin
from bot.web import http_input
from bot.web.http_input import errors
from handlers import poll_results
from handlers.weeks import Week
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Municipality, utcnow

if TYPE_CHECKING:
    from bot.runtime.served import Served

WEEKS = 12  # weeks counted back, this one included
CAMPAIGN_DAYS = 365  # campaigns shown: those that ran in the last year or are coming
BRIBE_MONTHS = 12  # completed months of bribe reports shown
POLL_DAYS = 365  # polls shown: open ones, and those closed in the last year


class Stats:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/stats/{key}.json", self.page)]

    async def page(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        async with self.runtime.db.session() as session:
            known = http_input.municipality_key(key)
            place = await queries.municipality_by_key(session, key) if known else None
            if place is None:
                return errors(404, f"no municipality {key[:64]}")
            settings = self.runtime.settings
            body = await collect(session, place, settings.timezone, settings.appeal_answer_days)
        return web.json_response(body, headers={"Cache-Control": "public, max-age=60"})


async def collect(
    session: AsyncSession,
    place: Municipality,
    timezone: str,
    answer_days: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    now = now or utcnow()
    today = now.astimezone(zone).date()
    return {
        "municipality": {
            "key": place.key,
            "code": place.code,
            "name": {language: place.name(language) for language in LANGUAGES},
            "region": place.region.key,
        },
        "generated_at": now.astimezone(zone).isoformat(timespec="seconds"),
        "wishes": await _wishes(session, place, today, zone),
        "bribe_reports": await _bribes(session, place, today),
        "initiatives": await _initiatives(session, place, today),
        "campaigns": await _campaigns(session, place, today),
        "polls": await _polls(session, place, now),
        "accountability": await _accountability(session, place, today, timezone, answer_days),
    }


async def _wishes(
    session: AsyncSession, place: Municipality, today: date, zone: ZoneInfo
) -> dict[str, Any]:
    by_kind: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = {}
    for kind, category, status, count in await queries.wish_counts(session, place.id):
        by_kind[kind] += count
        by_status[status] += count
        by_category.setdefault(category, Counter())[kind] += count
    first = Week.of(today)
    for _ in range(WEEKS - 1):
        first = first.before()
    start, _ = first.bounds(str(zone))
    weeks = Counter(
        str(Week.of(moment.astimezone(zone).date()))
        for moment in await queries.wish_times(session, place.id, start)
    )
    week, by_week = first, {}
    for _ in range(WEEKS):
        by_week[str(week)] = weeks[str(week)]
        week = Week.of(week.sunday + timedelta(days=1))
    return {
        "total": sum(by_kind.values()),
        "by_kind": {kind: by_kind[kind] for kind in ("change", "great")},
        "by_category": {
            category: {kind: counts[kind] for kind in ("change", "great")}
            for category, counts in sorted(by_category.items())
        },
        "by_status": dict(sorted(by_status.items())),
        "by_week": by_week,
    }


async def _accountability(
    session: AsyncSession, place: Municipality, today: date, timezone: str, answer_days: int
) -> dict[str, Any]:
    figures = await accountability.read(session, [place.id], today, timezone, answer_days)
    return accountability.as_json(figures, figures.of(place.id))


def _figure(shown: Figure) -> dict[str, Any]:
    """A count as anyone may see it: null when 1 or 2; a lower bound over hidden ones."""
    return {"count": shown.value, "at_least": shown.at_least}


async def _bribes(session: AsyncSession, place: Municipality, today: date) -> dict[str, Any]:
    """The reports given in each completed month (by the day they were given), each month's
    figures on their own: they never change once the month is over, so comparing two
    answers tells nothing a single one does not."""
    months = closed_months(today, BRIBE_MONTHS)
    by_month = []
    for first, last in months:
        services: Counter[int] = Counter()
        for (service, _), count in (
            await queries.bribe_counts_between(session, place.id, first, last)
        ).items():
            services[service] += count
        by_month.append(
            {
                "month": first.strftime("%Y-%m"),
                "by_service": [
                    {"service_code": service, **_figure(cell(services[service]))}
                    for service in sorted(services)
                ],
                "total": _figure(margin(list(services.values()))),
            }
        )
    return {
        "period": {"from": months[0][0].isoformat(), "to": months[-1][1].isoformat()},
        "by_month": by_month,
    }


async def _initiatives(
    session: AsyncSession, place: Municipality, today: date
) -> list[dict[str, Any]]:
    return [
        {
            "code": initiative.code,
            "kind": initiative.kind,
            "title": {language: initiative.title(language) for language in LANGUAGES},
            "threshold": initiative.threshold,
            "signatures": initiative.signed,
            "opens_on": initiative.opens_on.isoformat(),
            "closes_on": (initiative.closed_on or initiative.closes_on).isoformat(),
        }
        for initiative in await queries.initiatives_open_during(session, place.id, today, today)
    ]


async def _campaigns(
    session: AsyncSession, place: Municipality, today: date
) -> list[dict[str, Any]]:
    span = timedelta(days=CAMPAIGN_DAYS)
    shown = []
    for campaign in await queries.campaigns_during(session, place.id, today - span, today + span):
        tally = await queries.campaign_tally(session, campaign.id)
        shown.append(
            {
                "code": campaign.code,
                "name": campaign.name,
                "starts_on": campaign.starts_on.isoformat(),
                "ends_on": campaign.ends_on.isoformat(),
                "cards": tally.get("card:change", 0) + tally.get("card:great", 0),
                "online": tally.get("online:change", 0) + tally.get("online:great", 0),
            }
        )
    return shown


async def _polls(session: AsyncSession, place: Municipality, now: datetime) -> list[dict[str, Any]]:
    shown = []
    for poll in await queries.polls_shown(session, place.id, now - timedelta(days=POLL_DAYS), now):
        options, tally = await poll_results.tally_of(session, poll)
        villages = await queries.villages_of(session, place.id)
        shown.append(poll_report.as_json(poll, options, tally, villages))
    return shown
