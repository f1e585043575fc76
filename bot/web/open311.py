"""Open311 GeoReport v2, the read side (docs/open-data.md): the wish topics as services, and
wishes to change as service requests — the reference, the topic, the text (phone numbers
and the like masked; a text staff hid is left out), open or closed, staff's answer. No
person, no bribe report. XML (the spec's own format) or JSON, as the address ends, and the
discovery document that says so; answers are cached for a minute.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.runtime.i18n import Catalogues
from bot.web import georeport_xml, http_input, photo_links
from bot.web.http_input import errors
from handlers.scrub import scrub
from handlers.types import Text
from storage import queries
from storage.domain import LANGUAGES, wish_categories
from storage.models import Wish, utcnow

if TYPE_CHECKING:
    from bot.runtime.served import Served

BASE = http_input.OPEN311 + "v2"
FORMAT = "{format:json|xml}"  # the end of every route's address: what the client reads
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When the discovery document or the services last changed (the spec's "changeset": clients
# that cache the services read them again when it moves). Change it with them.
CHANGESET = "2026-12-06"
OPEN = ("accepted", "in_progress")  # the wishes' statuses Open311 calls "open"
CLOSED = ("done", "declined", "duplicate")
DEFAULT_DAYS = 90  # without start_date: the last 90 days, as the spec suggests
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
MAX_PAGE = 100  # so an offset stays small: further back, narrow the dates
MAX_ITEMS = 50  # in a comma-separated list
# Dates anyone may ask about: what both databases take, and wide of every wish.
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
CACHE_SECONDS, CACHE_ENTRIES = 60.0, 256


class BadQuery(Exception):
    """A parameter the caller must fix: 400, with the spec's error list."""


class Open311:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime
        self._cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{BASE}/services.{FORMAT}", self.services),
            web.get(f"{BASE}/requests.{FORMAT}", self.requests),
            web.get(f"{BASE}/requests/{{reference}}.{FORMAT}", self.request),
            # The spec's discovery address ends in /discovery.xml|json; clients look for it
            # beside the endpoint or above it.
            web.get(f"{http_input.OPEN311}discovery.{FORMAT}", self.discovery),
            web.get(f"{BASE}/discovery.{FORMAT}", self.discovery),
        ]

    @property
    def catalogues(self) -> Catalogues:
        return self.runtime.catalogues

    # --- endpoints ----------------------------------------------------------------------

    async def services(self, request: web.Request) -> web.Response:
        return await self._answer(request, "services", self._services)

    async def requests(self, request: web.Request) -> web.Response:
        return await self._answer(request, "service_requests", self._requests)

    async def request(self, request: web.Request) -> web.Response:
        return await self._answer(request, "service_requests", self._request)

    async def discovery(self, request: web.Request) -> web.Response:
        return await self._answer(request, "discovery", self._discovery)

    async def _answer(
        self, request: web.Request, root: str, make: Callable[[web.Request], Awaitable[Any]]
    ) -> web.Response:
        """The cached body if fresh; else made, kept, sent — as XML whose top element is
        `root`, or as JSON. A bad query: 400 and why, in the same format."""
        xml = request.match_info["format"] == "xml"
        key = request.path_qs
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return _body(cached[1], xml)
        try:
            made = await make(request)
        except BadQuery as error:
            return errors(400, str(error), xml=xml)
        except LookupError as error:
            return errors(404, str(error), xml=xml)
        if xml:
            body = georeport_xml.document(root, made)
        else:
            body = json.dumps(made, ensure_ascii=False).encode("utf-8")
        self._cache[key] = (time.monotonic() + CACHE_SECONDS, body)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return _body(body, xml)

    async def _discovery(self, request: web.Request) -> dict[str, Any]:
        """The spec's Service Discovery: this one endpoint, its formats, and that no key is
        needed. Its address is absolute at PUBLIC_BASE_URL, else only the path (never built
        from the request's Host, as media_url)."""
        settings = self.runtime.settings
        return {
            "changeset": CHANGESET,
            "contact": "Civic feedback bot: each municipality's page at "
            f"{settings.public_url('/') or '/'}; the data's fields and licence (ODC-By 1.0) "
            "in its docs/open-data.md",
            "key_service": "No key is needed: the data is read-only and open to anyone.",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": settings.public_url(BASE) or BASE,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": [georeport_xml.CONTENT_TYPE, "application/json"],
                }
            ],
        }

    async def _services(self, request: web.Request) -> list[dict[str, Any]]:
        language = _locale(request)
        await self._jurisdiction(request)  # checked, though every place has the same topics
        group = self.catalogues.text(language, Text("kind.change"))
        return [
            {
                "service_code": key,
                "service_name": self.catalogues.text(language, Text(f"category.{key}")),
                "description": "",
                "metadata": False,
                "type": "realtime",
                "keywords": "",
                "group": group,
            }
            for key in wish_categories()
        ]

    async def _requests(self, request: web.Request) -> list[dict[str, Any]]:
        query = request.query
        language = _locale(request)
        place = await self._jurisdiction(request)
        start, end = _dates(query.get("start_date"), query.get("end_date"))
        chosen = queries.RequestFilter(
            municipality_ids=[place] if place is not None else None,
            categories=_codes(query.get("service_code")),
            statuses=_statuses(query.get("status")),
            references=_references(query.get("service_request_id")),
            start=start,
            end=end,
        )
        page, size = _paging(query.get("page"), query.get("page_size"))
        async with self.runtime.db.session() as session:
            wishes = await queries.public_requests(session, chosen, (page - 1) * size, size)
            photos = await photo_links.public_photos(session, wishes)
        zone = ZoneInfo(self.runtime.settings.timezone)
        return [self._as_request(w, language, zone, photos.get(w.id)) for w in wishes]

    async def _request(self, request: web.Request) -> list[dict[str, Any]]:
        language = _locale(request)
        reference = request.match_info["reference"]
        if not http_input.reference(reference):
            raise LookupError(f"no service request {reference[:16]}")
        chosen = queries.RequestFilter(references=[reference])
        async with self.runtime.db.session() as session:
            found = await queries.public_requests(session, chosen, 0, 1)
            photos = await photo_links.public_photos(session, found)
        if not found:
            raise LookupError(f"no service request {reference[:16]}")
        zone = ZoneInfo(self.runtime.settings.timezone)
        wish = found[0]
        return [self._as_request(wish, language, zone, photos.get(wish.id))]

    # --- pieces -------------------------------------------------------------------------

    async def _jurisdiction(self, request: web.Request) -> int | None:
        key = request.query.get("jurisdiction_id")
        if key is None:
            return None
        if not http_input.municipality_key(key):
            raise BadQuery(f"unknown jurisdiction_id: {key[:64]}")
        async with self.runtime.db.session() as session:
            place = await queries.municipality_by_key(session, key)
        if place is None:
            raise BadQuery(f"unknown jurisdiction_id: {key[:64]}")
        return place.id

    def _as_request(
        self,
        wish: Wish,
        language: str,
        zone: ZoneInfo,
        photos: list[str] | None,
    ) -> dict[str, Any]:
        """A wish as a GeoReport service request; its place and first photo only once staff
        made them public (`photos` is None until then)."""
        assert wish.municipality is not None  # only placed wishes are published
        updated = wish.status_at or wish.created_at
        public = wish.media_public and not wish.hidden
        settings = self.runtime.settings
        return {
            "service_request_id": wish.reference,
            "status": "open" if wish.status in OPEN else "closed",
            "status_notes": scrub(wish.answer) if wish.answer else None,
            "service_name": self.catalogues.text(language, Text(f"category.{wish.category}")),
            "service_code": wish.category,
            "description": None if wish.hidden else scrub(wish.text),
            "agency_responsible": wish.municipality.name(language),
            "service_notice": None,
            "requested_datetime": _moment(wish.created_at, zone),
            "updated_datetime": _moment(updated, zone),
            "expected_datetime": None,
            "address": None,
            "address_id": None,
            "zipcode": None,
            "lat": wish.latitude if public else None,
            "long": wish.longitude if public else None,
            "media_url": photo_links.public_url(settings, photos[0]) if photos else None,
        }


# --- parameters ---------------------------------------------------------------------------


def _locale(request: web.Request) -> str:
    language = request.query.get("locale", "ky").split("_")[0].split("-")[0].lower()
    if language not in LANGUAGES:
        raise BadQuery("locale must be ky, ru or en")
    return language


def _list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise BadQuery("an empty list")
    if len(items) > MAX_ITEMS:
        raise BadQuery(f"at most {MAX_ITEMS} in a list")
    return items


def _references(value: str | None) -> list[str] | None:
    references = _list(value)
    wrong = [r for r in references or [] if not http_input.reference(r)]
    if wrong:
        raise BadQuery(f"a service_request_id is its digits, not {wrong[0][:16]}")
    return references


def _codes(value: str | None) -> list[str] | None:
    codes = _list(value)
    unknown = [code for code in codes or [] if code not in wish_categories()]
    if unknown:
        raise BadQuery(f"unknown service_code: {unknown[0][:32]}")
    return codes


def _statuses(value: str | None) -> list[str] | None:
    given = _list(value)
    if given is None:
        return None
    if any(status not in ("open", "closed") for status in given):
        raise BadQuery("status must be open or closed")
    return [s for status in given for s in (OPEN if status == "open" else CLOSED)]


def _dates(start: str | None, end: str | None) -> tuple[datetime, datetime | None]:
    first = _date(start, "start_date") if start else None
    last = _date(end, "end_date") if end else None
    if first is not None and last is not None and last < first:
        raise BadQuery("end_date is before start_date")
    if first is None:
        first = (last or utcnow()) - timedelta(days=DEFAULT_DAYS)
    return first, last


def _date(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace(" ", "+"))  # a "+" sent unescaped
    except ValueError:
        raise BadQuery(f"{name} is not a w3c date and time (2026-11-25T09:00:00+06:00)") from None
    if moment.tzinfo is None:
        raise BadQuery(f"{name} needs its time zone (Z or +06:00)")
    if not EARLIEST <= moment < LATEST:  # compared in UTC, without overflowing
        raise BadQuery(f"{name} must be from {EARLIEST.year} to {LATEST.year - 1}")
    return moment.astimezone(UTC)


def _paging(page: str | None, size: str | None) -> tuple[int, int]:
    number, count = _whole(page, 1), _whole(size, PAGE_SIZE)
    if not 1 <= number <= MAX_PAGE or not 1 <= count <= MAX_PAGE_SIZE:
        raise BadQuery(
            f"page from 1 to {MAX_PAGE} (narrow the dates to go further back); "
            f"page_size from 1 to {MAX_PAGE_SIZE}"
        )
    return number, count


def _whole(value: str | None, default: int) -> int:
    """A whole number in ASCII digits (int() would take ١٢ or 1_000); one of more than
    nine digits is past every bound anyway (and int() refuses 4,300)."""
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise BadQuery("page and page_size are whole numbers")
    return int(value) if len(value) <= 9 else 10**9


def _moment(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _body(body: bytes, xml: bool) -> web.Response:
    return web.Response(
        body=body,
        content_type=georeport_xml.CONTENT_TYPE if xml else "application/json",
        charset="utf-8",
        headers={"Cache-Control": f"public, max-age={int(CACHE_SECONDS)}"},
    )
