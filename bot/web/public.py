"""The public pages: `GET /` lists the municipalities, `GET /m/KEY` shows one — this week's
and this year's wishes, their topics as bars, recent wishes and what was done, open
initiatives and how to sign, campaigns, polls open and closed (bot/web/poll_section.py),
and how to write (the bot's link, the SMS form, the web chat). What it shows is what Open311
publishes: texts masked, hidden ones left out, no one's identity."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram.live import running
from bot.reports.wording import sayer
from bot.web import accountability_section, http_input, pages, photo_links, poll_section
from handlers.answering import shown_status
from handlers.dates import day_month
from handlers.quotes import shorten
from handlers.scrub import scrub
from handlers.types import Text, deep_link
from handlers.weeks import Week
from storage import queries
from storage.models import Municipality, Wish, utcnow

if TYPE_CHECKING:
    from bot.runtime.served import Served

RECENT = 10  # wishes listed
QUOTE = 200  # characters of each


class PublicPages:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/", self.index), web.get("/m/{key}", self.municipality)]

    def _t(self, language: str, key: str, **values: Any) -> str:
        return self.runtime.catalogues.text(language, Text(key, values))

    async def index(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        async with self.runtime.db.session() as session:
            places = await queries.all_municipalities(session)
            counts = await queries.wish_totals(session)
        by_region: dict[str, list[tuple[str, str, int]]] = {}
        for m in sorted(places, key=lambda m: (m.region.position, m.name(language))):
            by_region.setdefault(m.region.name(language), []).append(
                (m.key, m.name(language), counts.get(m.id, 0))
            )
        listed = list(by_region.items())
        return pages.render(
            self.runtime.catalogues,
            "index.html",
            language,
            title=self._t(language, "page.index_title"),
            regions=listed,
        )

    async def municipality(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        key = request.match_info["key"]
        async with self.runtime.db.session() as session:
            known = http_input.municipality_key(key)
            place = await queries.municipality_by_key(session, key) if known else None
            if place is None:
                title = self._t(language, "page.not_found")
                return pages.render(
                    self.runtime.catalogues, "not_found.html", language, status=404, title=title
                )
            values = await self._municipality(session, place, language)
        return pages.render(self.runtime.catalogues, "municipality.html", language, **values)

    async def _municipality(
        self, session: AsyncSession, place: Municipality, language: str
    ) -> dict[str, Any]:
        zone = ZoneInfo(self.runtime.settings.timezone)
        today = utcnow().astimezone(zone).date()
        week_start, _ = Week.of(today).bounds(self.runtime.settings.timezone)
        year_start = datetime.combine(date(today.year, 1, 1), time(), zone)
        counts = await queries.wish_counts(session, place.id)
        recent = await queries.public_requests(
            session, queries.RequestFilter(municipality_ids=[place.id]), 0, RECENT
        )
        done = await queries.public_requests(
            session,
            queries.RequestFilter(municipality_ids=[place.id], statuses=["done"]),
            0,
            RECENT,
        )
        photos = await photo_links.public_photos(session, [*recent, *done])
        telegram = running(self.runtime.channels)
        bot = telegram.sender.username() if telegram is not None else None
        number = self.runtime.settings.twilio_from_number
        return {
            "title": place.name(language),
            "name": place.name(language),
            "key": place.key,
            "week_total": await queries.count_wishes_since(session, place.id, week_start),
            "year_total": await queries.count_wishes_since(session, place.id, year_start),
            "bars": self._bars(counts, language),
            "recent": [self._line(wish, language) for wish in recent],
            "done": [(*self._line(wish, language)[:3], scrub(wish.answer or "")) for wish in done],
            "photos": {
                w.reference: [photo_links.path(k) for k in photos[w.id]]
                for w in [*recent, *done]
                if w.id in photos
            },
            "initiatives": [
                (
                    initiative.title(language),
                    initiative.signed,
                    initiative.threshold,
                    initiative.signed * 100 // max(initiative.threshold, 1),
                    _link(bot, f"i-{initiative.code}"),
                    self._t(language, "page.sign_sms", code=initiative.code),
                )
                for initiative in await queries.initiatives_open_during(
                    session, place.id, today, today
                )
            ],
            "campaigns": [
                (
                    c.name,
                    day_month(c.starts_on, language),  # as the poster and the bot write days
                    day_month(c.ends_on, language),
                    _link(bot, f"c-{c.code}"),
                )
                for c in await queries.campaigns_during(session, place.id, today, today)
            ],
            "polls": await poll_section.polls_of(
                session,
                place,
                language,
                lambda text: self.runtime.catalogues.text(language, text),
                self.runtime.settings.timezone,
            ),
            "accountability": await accountability_section.section_of(
                session,
                place,
                language,
                sayer(self.runtime.catalogues, language),
                today,
                self.runtime.settings.timezone,
                self.runtime.settings.appeal_answer_days,
            ),
            "bot_link": _link(bot, f"m-{place.key}"),
            "sms_number": number,
            "sms_form": self._t(language, "page.sms_form", code=place.code),
        }

    def _line(self, wish: Wish, language: str) -> tuple[str, str, str, str]:
        text = (
            self._t(language, "inbox.hidden_text")
            if wish.hidden
            else shorten(scrub(wish.text), QUOTE)
        )
        return (
            wish.reference,
            self._t(language, f"category.{wish.category}"),
            text,
            self._t(language, f"status.{shown_status(wish)}"),  # the word /mine uses
        )

    def _bars(
        self, counts: list[tuple[str, str, str, int]], language: str
    ) -> list[tuple[Any, ...]]:
        """(topic, to change, great, widths in %) the busiest first: drawn as inline SVG."""
        change: Counter[str] = Counter()
        great: Counter[str] = Counter()
        for kind, category, _, count in counts:
            (change if kind == "change" else great)[category] += count
        topics = sorted(set(change) | set(great), key=lambda c: -(change[c] + great[c]))
        largest = max((change[c] + great[c] for c in topics), default=1)
        return [
            (
                self._t(language, f"category.{c}"),
                change[c],
                great[c],
                round(change[c] * 100 / largest, 1),
                round(great[c] * 100 / largest, 1),
            )
            for c in topics
        ]


def _link(bot_username: str | None, payload: str) -> str | None:
    """The bot's t.me link with a /start payload; None while Telegram is off or unknown (a
    web page has no "/start …" to type)."""
    return deep_link(bot_username, payload) if bot_username else None
