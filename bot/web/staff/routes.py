"""The console's pages and forms (docs/operations.md, "The staff console").

GET /staff/login/TOKEN shows a one-button page (link previewers and mail scanners open
links: only the POST uses one); POST signs in. /staff lists the wishes (25 a page, appeals
first by due date); /staff/wish/REF is a wish's card with one form, status and words, that
answers through handlers/answering.py — the chat inbox's rules — and goes straight on to
the next wish of the list (POST, then the GET it redirects to). Deputies read, and post
nothing (403); another municipality's wish is not found (404); a filter the list does not
know is a 400. Every action is written to the audit log in the transaction that does it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from bot.web import http_input, pages, photo_links
from bot.web.staff import access, listing
from bot.web.staff.access import Official
from handlers import answering, console_links
from handlers.answering import STATUSES
from handlers.quotes import shorten
from handlers.sealing import SealBroken, sealer_for
from handlers.types import Text
from handlers.validation import clean
from storage import queries
from storage.domain import wish_categories
from storage.models import Appeal, Wish, utcnow
from storage.queries import audit, console

if TYPE_CHECKING:
    from bot.runtime.served import Served

VIA = "console"  # the audit log's and the answers' channel
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
LINE_LENGTH = 160  # characters of a wish's text in the list
NO_STORE = {"Cache-Control": "no-store"}
BULK_ACTIONS = ("duplicate", "topic")

Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


@dataclass
class Result:
    """What a form's transaction decided: a refusal page, a redirect, or the card again
    with a note (an answer too long, a wish changed meanwhile)."""

    status: int = 303
    refusal: str | None = None  # catalogue key of the refusal page
    location: str | None = None
    note: Text | None = None
    prefill: str = ""
    official: Official | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Console:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime

    def routes(self) -> list[web.RouteDef]:
        timed = self._timed
        return [
            web.get("/staff", timed(self.inbox)),
            web.get("/staff/login/{token}", timed(self.confirm)),
            web.post("/staff/login/{token}", timed(self.login)),
            web.post("/staff/logout", timed(self.logout)),
            web.get("/staff/wish/{reference}", timed(self.card)),
            web.post("/staff/wish/{reference}", timed(self.answer)),
            web.post("/staff/wish/{reference}/assign", timed(self.assign)),
            web.post("/staff/bulk", timed(self.bulk)),
        ]

    @staticmethod
    def _timed(
        handler: Callable[[web.Request], Awaitable[web.Response]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The server's time for the page in Server-Timing (bench/console.py reads it)."""

        async def run(request: web.Request) -> web.Response:
            started = time.perf_counter()
            response = await handler(request)
            spent = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={spent:.1f}"
            return response

        return run

    # --- pages and refusals ------------------------------------------------------------

    def _page(self, template: str, language: str, status: int = 200, **values: Any) -> web.Response:
        return pages.render(
            self.runtime.catalogues,
            f"staff/{template}",
            language,
            status=status,
            headers=dict(NO_STORE),
            **values,
        )

    def _refusal(self, language: str, status: int, key: str, **values: Any) -> web.Response:
        message = self.runtime.catalogues.text(language, Text(key, values))
        return self._page("refused.html", language, status, message=message, official=None)

    def _language(self, request: web.Request, official: Official | None) -> str:
        if "lang" in request.query or official is None:
            return pages.language_of(request)
        return official.person.language

    def _today(self) -> date:
        return datetime.now(ZoneInfo(self.runtime.settings.timezone)).date()

    async def _official(self, session: AsyncSession, request: web.Request) -> Official | None:
        return await access.official_of(session, self.runtime.pseudonyms, request, utcnow())

    async def _seen(self, official: Official) -> None:
        """The session was used: its idle time starts again (written at most once a minute)."""
        if not official.stale:
            return
        now = utcnow()

        async def work(session: AsyncSession) -> None:
            await console.touch_session(session, official.session_key, now)

        await self.runtime.db.write(work)

    def _signed_out(self, request: web.Request) -> web.Response:
        return self._refusal(self._language(request, None), 401, "console.signed_out")

    # --- signing in and out ---------------------------------------------------------------

    async def confirm(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        token = request.match_info["token"]
        if TOKEN.fullmatch(token) is None:
            return self._refusal(language, 404, "console.link_unknown")
        async with self.runtime.db.session() as session:
            link = await console.link_of(
                session, console_links.token_keys(self.runtime.pseudonyms, token)
            )
        why = _link_problem(link, utcnow())
        if why is not None:
            return self._refusal(language, *why)
        return self._page("login.html", language, token=token, official=None)

    async def login(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        token = request.match_info["token"]
        if TOKEN.fullmatch(token) is None:
            return self._refusal(language, 404, "console.link_unknown")
        keys = console_links.token_keys(self.runtime.pseudonyms, token)
        now = utcnow()

        async def work(session: AsyncSession) -> Result:
            person_id = await console.use_link(session, keys, now)
            if person_id is None:
                status, key = _link_problem(await console.link_of(session, keys), now) or (
                    404,
                    "console.link_unknown",
                )
                return Result(status, key)
            person = await queries.person_by_id(session, person_id)
            places = await queries.official_places(session, person) if person else []
            if not places:
                return Result(403, "console.officials_only")
            cookie = access.new_session(session, self.runtime.pseudonyms, person_id, now)
            await audit.record(
                session, person_id=person_id, municipality_id=places[0][1].id, via=VIA,
                action="login",
            )  # fmt: skip
            return Result(location="/staff", extra={"cookie": cookie})

        result = await self.runtime.db.write(work)
        if result.refusal is not None:
            return self._refusal(language, result.status, result.refusal)
        response = web.HTTPSeeOther(location=str(result.location))
        access.set_cookie(response, str(result.extra["cookie"]))
        return _as_response(response)

    async def logout(self, request: web.Request) -> web.Response:
        form = await http_input.form_of(request)
        if form is None:
            return self._refusal(pages.language_of(request), 400, "console.bad_request", why="form")
        now = utcnow()

        async def work(session: AsyncSession) -> Result:
            official = await self._official(session, request)
            if official is None:
                return Result(401, "console.signed_out")
            if not access.csrf_ok(official, form.get(access.CSRF_FIELD)):
                return Result(403, "console.csrf", official=official)
            await console.end_session(session, official.session_key, now)
            await audit.record(
                session, person_id=official.person.id,
                municipality_id=(*official.staff, *official.deputy)[0], via=VIA, action="logout",
            )  # fmt: skip
            return Result(200, official=official)

        result = await self.runtime.db.write(work)
        language = self._language(request, result.official)
        if result.refusal is not None:
            return self._refusal(language, result.status, result.refusal)
        response = self._refusal(language, 200, "console.logged_out")
        access.clear_cookie(response)
        return response

    # --- the list ---------------------------------------------------------------------------

    async def inbox(self, request: web.Request) -> web.Response:
        async with self.runtime.db.session() as session:
            official = await self._official(session, request)
            if official is None:
                return self._signed_out(request)
            language = self._language(request, official)
            try:
                asked = listing.read(request.query, official.person.id)
            except listing.Malformed as error:
                return self._refusal(language, 400, "console.bad_request", why=str(error))
            today = self._today()
            offset = (asked.page - 1) * listing.PAGE
            wishes, total = await console.console_page(
                session, official.readable, asked.listing, today, offset, listing.PAGE
            )
            appeals = await console.appeals_of(session, [w.id for w in wishes])
        await self._seen(official)
        pages_count = max((total + listing.PAGE - 1) // listing.PAGE, 1)
        rows = [_row(wish, appeals.get(wish.id), today, official, language) for wish in wishes]
        return self._page(
            "inbox.html",
            language,
            official=official,
            asked=asked,
            rows=rows,
            total=total,
            page=asked.page,
            pages=pages_count,
            statuses=(listing.ANY, *listing.FILTER_STATUSES),
            topics=wish_categories(),
            dues=listing.DUES,
            can_act=bool(official.staff),
            saved=_reference_in(request.query.get("saved")),
            changed=_count_in(request.query.get("changed")),
            none_left=request.query.get("none_left") == "1",
        )

    # --- a wish's card -------------------------------------------------------------------

    async def card(self, request: web.Request) -> web.Response:
        return await self._card(request)

    async def _card(self, request: web.Request, result: Result | None = None) -> web.Response:
        reference = request.match_info["reference"]
        async with self.runtime.db.session() as session:
            official = await self._official(session, request)
            if official is None:
                return self._signed_out(request)
            language = self._language(request, official)
            wish = await _readable_wish(session, official, reference)
            if wish is None:
                return self._refusal(language, 404, "console.not_found")
            try:
                query = request.query if result is None else result.extra["list"]
                asked = listing.read(query, official.person.id)
            except listing.Malformed as error:
                return self._refusal(language, 400, "console.bad_request", why=str(error))
            values = await self._card_values(session, official, wish, language)
        await self._seen(official)
        return self._page(
            "card.html",
            language,
            status=200,
            official=official,
            asked=asked,
            wish=wish,
            saved=_reference_in(request.query.get("saved")) if result is None else None,
            note=self.runtime.catalogues.text(language, result.note)
            if result and result.note
            else None,
            prefill=result.prefill if result else "",
            **values,
        )

    async def _card_values(
        self, session: AsyncSession, official: Official, wish: Wish, language: str
    ) -> dict[str, Any]:
        settings = self.runtime.settings
        links = await photo_links.staff_links(session, settings, [wish])
        photos = [_relative(link) for link in links.get(wish.id, [])]
        appeal = (await console.appeals_of(session, [wish.id])).get(wish.id)
        can_act = wish.municipality_id in official.staff
        identity = _identity(appeal, self.runtime.pseudonyms) if can_act else {}
        history = await console.answers_of(session, wish.id)
        colleagues = await console.staff_of(session, wish.municipality_id or 0) if can_act else []
        return {
            "photos": photos,
            "appeal": appeal,
            "identity": identity,
            "history": history,
            "can_act": can_act,
            "colleagues": colleagues,
            "shown_status": answering.shown_status(wish),
            "statuses": STATUSES,
            "limit": answering.limit_for(wish),
            "heard": answering.listener(wish) is not None,
            "overdue": bool(
                appeal and appeal.answered_on is None and appeal.due_on < self._today()
            ),
        }

    # --- forms --------------------------------------------------------------------------

    async def _form_action(
        self,
        request: web.Request,
        act: Callable[[AsyncSession, Official, Form, listing.Asked], Awaitable[Result]],
    ) -> web.Response:
        """A form's common checks (readable, signed in, CSRF, staff, its list), then `act`
        in one transaction with its audit entry; the redirect or refusal it decided."""
        form = await http_input.form_of(request)
        if form is None:
            return self._refusal(pages.language_of(request), 400, "console.bad_request", why="form")

        async def work(session: AsyncSession) -> Result:
            official = await self._official(session, request)
            if official is None:
                return Result(401, "console.signed_out")
            if not access.csrf_ok(official, form.get(access.CSRF_FIELD)):
                return Result(403, "console.csrf", official=official)
            if not official.staff:
                return Result(403, "console.read_only", official=official)
            carried = dict(parse_qsl(str(form.get("list", ""))[:512]))
            try:
                asked = listing.read(carried, official.person.id)
            except listing.Malformed as error:
                return Result(
                    400, "console.bad_request", official=official, extra={"why": str(error)}
                )
            result = await act(session, official, form, asked)
            result.official = official
            result.extra.setdefault("list", carried)
            return result

        try:
            result = await self.runtime.db.write(work)
        except StaleDataError:  # a colleague changed the wish at the same moment: once more
            result = await self.runtime.db.write(work)
        language = self._language(request, result.official)
        if result.refusal is not None:
            why = result.extra.get("why", "")
            return self._refusal(language, result.status, result.refusal, why=why)
        if result.location is None:  # the card again, with its note
            return await self._card(request, result)
        return _as_response(web.HTTPSeeOther(location=result.location))

    async def answer(self, request: web.Request) -> web.Response:
        reference = request.match_info["reference"]

        async def act(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked
        ) -> Result:
            wish = await _readable_wish(session, official, reference)
            if wish is None:
                return Result(404, "console.not_found")
            if wish.municipality_id not in official.staff:
                return Result(403, "console.read_only")
            status, version = form.get("status"), str(form.get("version", ""))
            if status not in STATUSES or not version.isdigit():
                return Result(400, "console.bad_request", extra={"why": "status"})
            words = " ".join(clean(str(form.get("text", ""))).split())
            problem = answering.check_answer(wish, words)
            if problem is not None:
                return Result(200, note=problem, prefill=str(problem.values["short"]))
            if wish.version != int(version):
                repeated = await answering.repeated(session, wish, str(status), words)
                if repeated is None:  # changed by someone else since shown: shown again
                    return Result(200, note=Text("inbox.changed"), prefill=words)
            else:
                said = await answering.answer(
                    session, wish, official.person, str(status), words, VIA
                )
                if said.key != "answer.repeated":  # the same answer again changed nothing
                    await audit.record(
                        session, person_id=official.person.id,
                        municipality_id=wish.municipality_id, via=VIA, action="answer",
                        subject=wish.reference, detail={"status": str(status)},
                    )  # fmt: skip
            await session.flush()
            found = await console.next_in_list(
                session, official.readable, asked.listing, self._today(), wish
            )
            return Result(location=_next_location(found, asked, wish.reference))

        return await self._form_action(request, act)

    async def assign(self, request: web.Request) -> web.Response:
        reference = request.match_info["reference"]

        async def act(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked
        ) -> Result:
            wish = await _readable_wish(session, official, reference)
            if wish is None:
                return Result(404, "console.not_found")
            if wish.municipality_id not in official.staff:
                return Result(403, "console.read_only")
            chosen = str(form.get("to", ""))
            colleagues = await console.staff_of(session, wish.municipality_id or 0)
            if chosen and not (chosen.isdigit() and int(chosen) in colleagues):
                return Result(400, "console.bad_request", extra={"why": "to"})
            wish.assigned_to = int(chosen) if chosen else None
            await audit.record(
                session, person_id=official.person.id, municipality_id=wish.municipality_id,
                via=VIA, action="assign", subject=wish.reference,
                detail={"to": wish.assigned_to},
            )  # fmt: skip
            return Result(location=_with_list(f"/staff/wish/{wish.reference}", asked))

        return await self._form_action(request, act)

    async def bulk(self, request: web.Request) -> web.Response:
        async def act(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked
        ) -> Result:
            action = form.get("action")
            references = [str(r) for r in form.getall("ref", []) if isinstance(r, str)]
            if action not in BULK_ACTIONS or not references or len(references) > listing.PAGE:
                return Result(400, "console.bad_request", extra={"why": "action"})
            if not all(http_input.reference(r) for r in references):
                return Result(400, "console.bad_request", extra={"why": "ref"})
            wishes = await console.wishes_by_reference(session, references, official.staff)
            if len(wishes) != len(set(references)):
                return Result(404, "console.not_found")
            topic = str(form.get("topic", ""))
            if action == "topic" and topic not in wish_categories():
                return Result(400, "console.bad_request", extra={"why": "topic"})
            target = clean(str(form.get("of", ""))).strip()
            for wish in wishes:
                if action == "topic":
                    wish.category = topic
                    detail: dict[str, Any] = {"topic": topic}
                else:
                    said = await answering.mark_duplicate(
                        session, wish, official.person, target, VIA
                    )
                    if said.key != "answer.duplicate_saved":
                        raise _Refused(said)  # nothing of the batch is kept
                    detail = {"of": str(said.values["of"])}
                await audit.record(
                    session, person_id=official.person.id, municipality_id=wish.municipality_id,
                    via=VIA, action="duplicate" if action == "duplicate" else "move_topic",
                    subject=wish.reference, detail=detail,
                )  # fmt: skip
            return Result(location=_with_list("/staff", asked, changed=str(len(wishes))))

        try:
            return await self._form_action(request, act)
        except _Refused as refused:
            async with self.runtime.db.session() as session:
                official = await self._official(session, request)
            language = self._language(request, official)
            message = self.runtime.catalogues.text(language, refused.said)
            return self._page("refused.html", language, 400, message=message, official=None)


class _Refused(Exception):
    """A bulk action one of whose wishes cannot take it: the whole batch is rolled back."""

    def __init__(self, said: Text) -> None:
        super().__init__(said.key)
        self.said = said


def _as_response(redirect: web.HTTPException) -> web.Response:
    response = web.Response(status=redirect.status, headers=redirect.headers)
    for morsel in redirect.cookies.values():
        response.cookies[morsel.key] = morsel
    return response


def _link_problem(link: Any, now: datetime) -> tuple[int, str] | None:
    """Why a one-time link opens nothing: unknown (404), used or expired (410)."""
    if link is None:
        return 404, "console.link_unknown"
    if link.used_at is not None:
        return 410, "console.link_used"
    if link.expires_at <= now:
        return 410, "console.link_expired"
    return None


async def _readable_wish(session: AsyncSession, official: Official, reference: str) -> Wish | None:
    if not http_input.reference(reference):
        return None
    wish = await queries.wish_by_reference(session, reference)
    if wish is None or wish.municipality_id not in official.readable:
        return None  # another municipality's wish is not found, as one that is not there
    return wish


def _count_in(value: str | None) -> str | None:
    """How many a bulk action changed, as its redirect says (at most a page's)."""
    return value if value and value.isdigit() and len(value) <= 2 else None


def _reference_in(value: str | None) -> str | None:
    return value if value and http_input.reference(value) else None


def _with_list(path: str, asked: listing.Asked, **more: str) -> str:
    query = "&".join(
        part for part in (asked.query_string, "&".join(f"{k}={v}" for k, v in more.items())) if part
    )
    return f"{path}?{query}" if query else path


def _next_location(found: Wish | None, asked: listing.Asked, answered: str) -> str:
    """The next wish's card, saying this one was saved; the list when none is left."""
    if found is None:
        return _with_list("/staff", asked, saved=answered, none_left="1")
    return _with_list(f"/staff/wish/{found.reference}", asked, saved=answered)


def _relative(link: str) -> str:
    """A signed photo link as a path on this server (the page's images are its own)."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _identity(appeal: Appeal | None, pseudonyms: Any) -> dict[str, str]:
    """An appellant's sealed name and address, opened for the municipality's staff (the
    lead swaps in handlers/appeals.identity once merged)."""
    if appeal is None or not appeal.sealed:
        return {}
    try:
        return sealer_for(pseudonyms).open(appeal.sealed)
    except SealBroken:
        return {}


def _row(
    wish: Wish, appeal: Appeal | None, today: date, official: Official, language: str
) -> dict[str, Any]:
    open_appeal = appeal is not None and appeal.answered_on is None
    return {
        "wish": wish,
        "text": None if wish.hidden else shorten(wish.text, LINE_LENGTH),
        "status": answering.shown_status(wish),
        "appeal": appeal,
        "overdue": open_appeal and appeal is not None and appeal.due_on < today,
        "mine": wish.assigned_to == official.person.id,
        "can_act": wish.municipality_id in official.staff,
    }
