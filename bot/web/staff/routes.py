"""The console's pages and forms (docs/operations.md, "The staff console").

Signing in and out: bot/web/staff/signin.py. /staff lists the wishes (25 a page, appeals
first by due date); /staff/wish/REF is a wish's card with one form, status and words, that
answers through handlers/answering.py — the chat inbox's rules — and goes straight on to
the next wish of the list (POST, then the GET it redirects to). Deputies read, and post
nothing (403); another municipality's wish is not found (404); a filter the list does not
know is a 400. Every action is written to the audit log in the transaction that does it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from bot.web import http_input, pages, photo_links
from bot.web.staff import access, listing
from bot.web.staff.access import Official
from bot.web.staff.base import VIA, Result, StaffPages, redirect, server_timing
from bot.web.staff.signin import SignIn
from handlers import answering, appeals
from handlers.answering import STATUSES
from handlers.quotes import shorten
from handlers.sealing import SealBroken
from handlers.types import Text
from handlers.validation import clean, small_number
from storage import queries
from storage.domain import wish_categories
from storage.models import Appeal, Wish
from storage.queries import appeals as appeal_rows
from storage.queries import audit, console

LINE_LENGTH = 160  # characters of a wish's text in the list
BULK_ACTIONS = ("duplicate", "topic")
OF_LENGTH = 16  # the reference a bulk duplicate points at (the form's maxlength too)

Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


class Console(StaffPages):
    def routes(self) -> list[web.RouteDef]:
        timed = server_timing
        return [
            *SignIn(self.runtime).routes(),
            web.get("/staff", timed(self.inbox)),
            web.get("/staff/wish/{reference}", timed(self.card)),
            web.post("/staff/wish/{reference}", timed(self.answer)),
            web.post("/staff/wish/{reference}/assign", timed(self.assign)),
            web.post("/staff/wish/{reference}/extend", timed(self.extend)),
            web.post("/staff/bulk", timed(self.bulk)),
        ]

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
            appeals = await appeal_rows.appeals_for(session, [w.id for w in wishes])
            villages = await console.villages_in(session, official.readable)
        await self._seen(official)
        pages_count = max((total + listing.PAGE - 1) // listing.PAGE, 1)
        rows = [_row(wish, appeals.get(wish.id), today, official) for wish in wishes]
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
            villages=[(v.id, v.name(language)) for v in villages],
            dues=listing.DUES,
            can_act=bool(official.staff),
            saved=_reference_in(request.query.get("saved")),
            changed=_count_in(request.query.get("changed")),
            none_left=request.query.get("none_left") == "1",
            of_length=OF_LENGTH,
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
            values = await self._card_values(session, official, wish)
        await self._seen(official)
        said = result.note if result else None
        note = self.runtime.catalogues.text(language, said) if said else None
        extension = result.extra.get("extension") if result else None
        return self._page(
            "card.html",
            language,
            status=result.status if result else 200,
            official=official,
            asked=asked,
            wish=wish,
            saved=_reference_in(request.query.get("saved")) if result is None else None,
            extended=result is None and request.query.get("extended") == "1",
            note=None if extension is not None else note,
            extension_note=note if extension is not None else None,
            extension_reason=extension or "",
            prefill=result.prefill if result else "",
            **values,
        )

    async def _card_values(
        self, session: AsyncSession, official: Official, wish: Wish
    ) -> dict[str, Any]:
        settings = self.runtime.settings
        links = await photo_links.staff_links(session, settings, [wish])
        photos = [_relative(link) for link in links.get(wish.id, [])]
        appeal = await appeal_rows.appeal_of(session, wish.id)
        can_act = wish.municipality_id in official.staff
        identity: dict[str, str] = {}
        if appeal is not None and can_act:
            try:
                identity = appeals.identity(appeal, self.runtime.pseudonyms)
            except SealBroken:  # sealed under a key no longer set: the operator's to mend
                identity = {"unreadable": ""}
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
            "most_days": appeals.RULES.answer_days,
            "reason_limit": appeals.REASON_LIMIT,
            "overdue": _days_late(appeal, self._today()),
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
        return redirect(web.HTTPSeeOther(location=result.location))

    async def _wish_action(
        self,
        request: web.Request,
        act: Callable[[AsyncSession, Official, Form, listing.Asked, Wish], Awaitable[Result]],
    ) -> web.Response:
        """A form on the wish its path names: `_form_action`'s checks, then `act` once the
        wish is found and this official may act on it (else the refusal)."""
        reference = request.match_info["reference"]

        async def on_wish(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked
        ) -> Result:
            wish = await _actionable_wish(session, official, reference)
            if isinstance(wish, Result):
                return wish
            return await act(session, official, form, asked, wish)

        return await self._form_action(request, on_wish)

    async def answer(self, request: web.Request) -> web.Response:
        async def act(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked, wish: Wish
        ) -> Result:
            status, version = form.get("status"), small_number(str(form.get("version", "")))
            if status not in STATUSES or version is None:
                return Result(400, "console.bad_request", extra={"why": "status"})
            words = " ".join(clean(str(form.get("text", ""))).split())
            problem = answering.check_answer(wish, words)
            if problem is not None:
                return Result(200, note=problem, prefill=str(problem.values["short"]))
            if wish.version != version:
                repeated = await answering.repeated(session, wish, str(status), words)
                if repeated is None:  # changed by someone else since shown: shown again
                    return Result(200, note=Text("inbox.changed"), prefill=words)
            else:  # audited there, as from every channel
                await answering.answer(session, wish, official.person, str(status), words, VIA)
            await session.flush()
            found = await console.next_in_list(
                session, official.readable, asked.listing, self._today(), wish
            )
            return Result(location=_next_location(found, asked, wish.reference))

        return await self._wish_action(request, act)

    async def assign(self, request: web.Request) -> web.Response:
        async def act(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked, wish: Wish
        ) -> Result:
            chosen = str(form.get("to", "")).strip()
            colleague = small_number(chosen, 18) if chosen else None
            colleagues = await console.staff_of(session, wish.municipality_id or 0)
            if chosen and colleague not in colleagues:
                return Result(400, "console.bad_request", extra={"why": "to"})
            wish.assigned_to = colleague
            await audit.record(
                session, person_id=official.person.id, municipality_id=wish.municipality_id,
                via=VIA, action="assign", subject=wish.reference,
                detail={"to": wish.assigned_to},
            )  # fmt: skip
            return Result(location=_with_list(f"/staff/wish/{wish.reference}", asked))

        return await self._wish_action(request, act)

    async def extend(self, request: web.Request) -> web.Response:
        """An appeal's clock moved once, by days and with a reason (handlers/appeals.extend:
        the law's rules); a refusal is the card again, saying why."""

        async def act(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked, wish: Wish
        ) -> Result:
            appeal = await appeal_rows.appeal_of(session, wish.id)
            if appeal is None:
                return Result(404, "console.not_found")
            days = small_number(str(form.get("days", "")), 3)
            reason = clean(str(form.get("reason", "")))
            if days is None:
                most = appeals.RULES.answer_days
                return _extension_refused(Text("appeal.extend_days", {"most": most}), reason)
            try:
                await appeals.extend(
                    session, appeal, days, reason, official.person, self._today(), VIA
                )  # audited there, as from the chat
            except appeals.NotExtendable as refused:
                return _extension_refused(refused.why, reason)
            card = f"/staff/wish/{wish.reference}"
            return Result(location=_with_list(card, asked, extended="1"))

        return await self._wish_action(request, act)

    async def bulk(self, request: web.Request) -> web.Response:
        async def act(
            session: AsyncSession, official: Official, form: Form, asked: listing.Asked
        ) -> Result:
            action = form.get("action")
            ticked = [str(r) for r in form.getall("ref", []) if isinstance(r, str)]
            if action not in BULK_ACTIONS or not ticked or len(ticked) > listing.PAGE:
                return Result(400, "console.bad_request", extra={"why": "action"})
            shown = _shown_versions(ticked)
            if shown is None:
                return Result(400, "console.bad_request", extra={"why": "ref"})
            wishes = await console.wishes_by_reference(session, list(shown), official.staff)
            if len(wishes) != len(shown):
                return Result(404, "console.not_found")
            changed = [w.reference for w in wishes if w.version != shown[w.reference]]
            if changed:  # as the chat inbox: a wish changed since shown is not acted on blind
                why = ", ".join(changed)
                return Result(409, "console.bulk_changed", extra={"why": why})
            topic = str(form.get("topic", ""))
            if action == "topic" and topic not in wish_categories():
                return Result(400, "console.bad_request", extra={"why": "topic"})
            target = clean(str(form.get("of", ""))).strip()
            if len(target) > OF_LENGTH:
                return Result(400, "console.bad_request", extra={"why": "of"})
            for wish in wishes:
                if action == "duplicate":  # audited there, as from every channel
                    said = await answering.mark_duplicate(
                        session, wish, official.person, target, VIA
                    )
                    if said.key != "answer.duplicate_saved":
                        raise _Refused(said)  # nothing of the batch is kept
                    continue
                wish.category = topic
                await audit.record(
                    session, person_id=official.person.id, municipality_id=wish.municipality_id,
                    via=VIA, action="move_topic", subject=wish.reference, detail={"topic": topic},
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


def _extension_refused(why: Text, reason: str) -> Result:
    """The card again, the refusal beside the extension form, the reason as typed."""
    return Result(400, note=why, extra={"extension": reason})


class _Refused(Exception):
    """A bulk action one of whose wishes cannot take it: the whole batch is rolled back."""

    def __init__(self, said: Text) -> None:
        super().__init__(said.key)
        self.said = said


async def _readable_wish(session: AsyncSession, official: Official, reference: str) -> Wish | None:
    if not http_input.reference(reference):
        return None
    wish = await queries.wish_by_reference(session, reference)
    if wish is None or wish.municipality_id not in official.readable:
        return None  # another municipality's wish is not found, as one that is not there
    return wish


async def _actionable_wish(
    session: AsyncSession, official: Official, reference: str
) -> Wish | Result:
    """The wish a form acts on, or the refusal: not found (or another municipality's), or
    only readable (a deputy's)."""
    wish = await _readable_wish(session, official, reference)
    if wish is None:
        return Result(404, "console.not_found")
    if wish.municipality_id not in official.staff:
        return Result(403, "console.read_only")
    return wish


def _shown_versions(ticked: list[str]) -> dict[str, int] | None:
    """The ticked wishes' `REF:VERSION`s as the list showed them, by reference; None if one
    is not that."""
    shown: dict[str, int] = {}
    for value in ticked:
        reference, _, version_text = value.partition(":")
        version = small_number(version_text)
        if not http_input.reference(reference) or version is None:
            return None
        shown[reference] = version
    return shown


def _count_in(value: str | None) -> str | None:
    """How many a bulk action changed, as its redirect says (at most a page's)."""
    return value if value and value.isdigit() and len(value) <= 2 else None


def _reference_in(value: str | None) -> str | None:
    return value if value and http_input.reference(value) else None


def _with_list(path: str, asked: listing.Asked, **more: str) -> str:
    query = urlencode({**asked.query, **more})
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


def _days_late(appeal: Appeal | None, today: date) -> int:
    """Working days an unanswered appeal is late (0: not late), as the chat inbox says it."""
    if appeal is None or appeal.answered_on is not None:
        return 0
    return appeals.working_days_late(appeal.due_on, today)


def _row(wish: Wish, appeal: Appeal | None, today: date, official: Official) -> dict[str, Any]:
    return {
        "wish": wish,
        "text": None if wish.hidden else shorten(wish.text, LINE_LENGTH),
        "status": answering.shown_status(wish),
        "appeal": appeal,
        "overdue": _days_late(appeal, today),
        "mine": wish.assigned_to == official.person.id,
        "can_act": wish.municipality_id in official.staff,
    }
