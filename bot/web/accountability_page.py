"""The national page of answers on time (`GET /accountability`, linked from `/`) and its
open-data twin (`GET /accountability.json`, docs/open-data.md): municipalities ranked by
the share answered within the legal period, then by the median working days to answer,
only those with at least MIN_ITEMS items counted in the period (handlers/accountability.py),
beside the whole country's figures. Every municipality's figures come from the same four
queries. Counts only, never anyone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.reports import accountability as report
from bot.web import pages
from handlers.accountability import MIN_ITEMS, PERIODS, ranked
from handlers.types import Text
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Municipality, utcnow

if TYPE_CHECKING:
    from bot.runtime.served import Served

SHOWN_WEEKS = max(PERIODS)  # the page's period unless ?weeks= names another
KEPT_SECONDS = 60.0  # as long as the JSON's Cache-Control lets a client keep it


class AccountabilityPage:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime
        # The municipalities read with the figures last read: while those are kept (read_all),
        # a request reads nothing at all.
        self._places: tuple[report.Read, dict[int, Municipality]] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/accountability", self.page),
            web.get("/accountability.json", self.json),
        ]

    async def _read(self) -> tuple[report.Read, dict[int, Municipality]]:
        settings = self.runtime.settings
        zone = ZoneInfo(settings.timezone)
        today = utcnow().astimezone(zone).date()
        async with self.runtime.db.session() as session:
            figures = await report.read_all(
                session, today, settings.timezone, settings.appeal_answer_days, KEPT_SECONDS
            )
            if self._places is None or self._places[0] is not figures:
                places = {m.id: m for m in await queries.all_municipalities(session)}
                self._places = (figures, places)
        return figures, self._places[1]

    async def page(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        asked = request.query.get("weeks", "")
        weeks = int(asked) if asked in {str(w) for w in PERIODS} else SHOWN_WEEKS
        figures, places = await self._read()
        days = figures.answer_days

        def t(key: str, **values: Any) -> str:
            return self.runtime.catalogues.text(language, Text(key, values))

        country = figures.national().periods[weeks]
        rows = [
            (
                position,
                places[place].key,
                places[place].name(language),
                places[place].region.name(language),
                shown.counted,
                report.share_text(shown.share),
                report.days_text(shown.median, language),
                figures.of(place).overdue,
            )
            for position, (place, shown) in enumerate(ranked(figures.found, weeks), 1)
            if place in places
        ]
        return pages.render(
            self.runtime.catalogues,
            "accountability_national.html",
            language,
            title=t("accountability.national_title"),
            intro=t("accountability.national_intro", days=days, min=MIN_ITEMS),
            country=t(
                "accountability.country",
                share=report.share_text(country.share),
                median=report.days_text(country.median, language),
                counted=country.counted,
            ),
            periods=[(w, t("accountability.period", weeks=w), w == weeks) for w in PERIODS],
            rows=rows,
            nobody=t("accountability.nobody_ranked", min=MIN_ITEMS),
        )

    async def json(self, request: web.Request) -> web.Response:
        figures, places = await self._read()
        settings = self.runtime.settings
        country = figures.national()
        body = {
            # When the figures were read (kept up to KEPT_SECONDS), not when this was sent.
            "generated_at": figures.read_at.astimezone(ZoneInfo(settings.timezone)).isoformat(
                timespec="seconds"
            ),
            "answer_days": figures.answer_days,
            "min_items": MIN_ITEMS,
            "overdue_now": {"appeals": country.overdue_appeals, "wishes": country.overdue_wishes},
            "periods": [
                {
                    **report.period_json(span, country.periods[weeks]),
                    "ranking": [
                        {
                            "rank": position,
                            "municipality": _named(places[place]),
                            **_ranked_figures(report.period_json(span, shown)),
                            "overdue_now": {
                                "appeals": figures.of(place).overdue_appeals,
                                "wishes": figures.of(place).overdue_wishes,
                            },
                        }
                        for position, (place, shown) in enumerate(ranked(figures.found, weeks), 1)
                        if place in places
                    ],
                }
                for weeks, span in figures.spans.items()
            ],
        }
        return web.json_response(body, headers={"Cache-Control": "public, max-age=60"})


def _named(place: Municipality) -> dict[str, Any]:
    return {
        "key": place.key,
        "code": place.code,
        "name": {language: place.name(language) for language in LANGUAGES},
        "region": place.region.key,
    }


def _ranked_figures(period: dict[str, Any]) -> dict[str, Any]:
    """A ranked municipality's figures: the period's own fields, its dates given once above."""
    return {k: v for k, v in period.items() if k not in ("weeks", "from", "to")}
