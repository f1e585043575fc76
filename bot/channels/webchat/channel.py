"""The web chat (`GET/POST /try`): the bot in a browser, on the same handlers as Telegram —
buttons, steps and answers alike — so that anyone can try it with no token, and residents
without Telegram or SMS can use it. Plain HTML forms; no script needed.

Who a visitor is, the server says: a new visitor is given a cookie holding a random id and
its HMAC under a key derived from SECRET_KEY (one signed under a key being rotated out still
counts, and is signed anew). A cookie we did not sign is nobody: a GET gives a new identity,
a POST is answered as a stale form (403). Only a keyed hash of the id is stored, as the
person's id on channel "web". Each form carries a CSRF token bound to that id and a one-time
id, so a form sent twice is handled once.

Anyone can become a new visitor by dropping the cookie, so new identities are limited per
client address (WEB_VISITORS_PER_HOUR; past it the page says so politely and gives none),
and so are the wishes of all the visitors at one address (WEB_WISHES_PER_HOUR, besides each
one's own limit: handlers/flood.py). Both are counted in the database, shared by every
worker. The client address, and whether the cookie must be `Secure`, come from the proxy's
headers only from TRUSTED_PROXIES (bot/web/clients.py).

For residents without Telegram this is the channel, so it reads as one: the conversation of
the visit stays on the page (carried in its form, sealed: transcript.py); an answer without
buttons of its own offers as buttons the commands it names (or the main ones), so nothing
needs typing as a command; and a municipality's page links here with its place (`?place=KEY`),
which the first form gives the handlers as Telegram's deep link (`/start m-KEY`).

Messages the bot starts later (staff's answers) cannot reach a browser: the resident reads
them with /mine. WEB_CHAT=off turns it off.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import answers
from bot.channels.answers import Keyboard
from bot.channels.budget import AnswerBudget, Verdict
from bot.channels.ordering import KeyedLocks
from bot.channels.webchat.transcript import BOT, YOU, Entry, Transcripts
from bot.runtime import metrics
from bot.web import http_input, pages
from bot.web.clients import Clients, limit_key
from handlers import dispatch, flood, router
from handlers.types import Inbound, Origin, Outcome, Text, typed
from storage import queries
from storage.channels import WEB
from storage.models import utcnow

if TYPE_CHECKING:
    from bot.runtime.served import Served

CHANNEL = WEB  # storage/channels.py
PATH = "/try"
COOKIE = "civic_chat"
COOKIE_DAYS = 180
MESSAGES_PER_MINUTE = 30  # forms a visitor may send; more are refused (429), not handled
TEXT_LIMIT = 4000  # characters taken from the form; the handlers say what is too long
ID_BYTES = 18  # a visitor's random id: 144 bits, 24 characters
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{24}")
FIELDS = ("csrf", "m", "button", "command", "text", "history", "place")
# What a command button may send: the chat's commands, but SMS's STOP and START.
COMMANDS = frozenset(router.COMMANDS) - router.ONE_SHOT_ONLY | frozenset(router.INFO_COMMANDS)
# Offered when an answer has no buttons and names no command: a resident's main actions.
MAIN_COMMANDS = ("change", "great", "bribe", "mine", "help")
NAMED_COMMAND = re.compile(r"(?<![\w/])/([a-z]+)\b")
Commands = list[tuple[str, str]]  # (label, command)


class WebChat:
    def __init__(self, runtime: Served) -> None:
        self.runtime = runtime
        self._clients = Clients(runtime.settings.trusted_proxies)
        self._senders = KeyedLocks()
        self._budget = AnswerBudget(MESSAGES_PER_MINUTE, 60.0)  # per visitor, as on Telegram

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.page), web.post(PATH, self.post)]

    # The chat's keys are derived at its first visitor, not when the server starts: deriving
    # loads cryptography (handlers/pseudonyms.py).

    @functools.cached_property
    def _identity_keys(self) -> tuple[bytes, ...]:
        return self.runtime.pseudonyms.derive_every("web-chat-identity")

    @functools.cached_property
    def _csrf_keys(self) -> tuple[bytes, ...]:
        return self.runtime.pseudonyms.derive_every("web-chat-csrf")

    @functools.cached_property
    def _transcripts(self) -> Transcripts:
        return Transcripts(self.runtime.pseudonyms.derive_every("web-chat-transcript"))

    async def page(self, request: web.Request) -> web.Response:
        if not self.runtime.settings.web_chat:
            return self._off(request)
        visitor = self._visitor(request) or await self._new_visitor(request)
        if visitor is None:
            return self._busy(request)
        return self._show(request, visitor, Exchange(), [])

    async def post(self, request: web.Request) -> web.Response:
        if not self.runtime.settings.web_chat:
            return self._off(request)
        visitor = self._visitor(request)
        if visitor is None:  # no identity of ours: a stale page, another browser, a script
            return self._refused(request, 403)
        form = await _form(request)
        if form is None:
            return self._refused(request, 400)
        if not self._csrf_valid(visitor, form["csrf"]):
            return self._refused(request, 403)
        if self._budget.take(visitor) is not Verdict.ANSWER:  # not handled: nothing is lost
            language = pages.language_of(request)
            flood = self.runtime.catalogues.text(language, Text("flood.messages"))
            return web.Response(status=429, text=flood, headers={"Retry-After": "60"})
        before = self._transcripts.open(visitor, form["history"])
        button, text = form["button"], form["text"][:TEXT_LIMIT]
        said = "" if button else text
        command, place = form["command"], form["place"].lower()
        if command == "start" and http_input.municipality_key(place):
            said, text = self._label(request, command), f"/start m-{place}"  # Telegram's link
        elif command in COMMANDS:  # a command's button: what it says, with anything typed
            said = " ".join(filter(None, (self._label(request, command), text)))
            text = f"/{command} {text}".strip()
        delivery = form["m"][:64] or None
        inbound = self._inbound(request, visitor, delivery, button, text)
        async with self._senders.hold(inbound.user_id):  # one visitor's messages in order
            outcome = await dispatch.handle(
                self.runtime.db, self.runtime.pseudonyms, inbound, files=self.runtime.files
            )
        metrics.counted(CHANNEL, metrics.kind_of(inbound), outcome)
        if outcome is None:  # the same form sent again: handled once already
            return self._show(request, visitor, Exchange(said), before)
        replies, keyboard = self._rendered(outcome)
        exchange = Exchange(said, replies, keyboard, private=outcome.private)
        return self._show(request, visitor, exchange, before)

    # --- who is asking ------------------------------------------------------------------

    def _visitor(self, request: web.Request) -> str | None:
        """The visitor's id if their cookie is one we signed (under any key still known)."""
        visitor, _, signature = request.cookies.get(COOKIE, "").partition(".")
        if not VISITOR_ID.fullmatch(visitor):
            return None
        expected = (_mac(key, visitor) for key in self._identity_keys)
        return visitor if any(http_input.same_secret(signature, e) for e in expected) else None

    async def _new_visitor(self, request: web.Request) -> str | None:
        """A new identity, unless the client's address has had its share this hour."""
        now = utcnow()
        address = limit_key(self._clients.of(request).address)
        key = self.runtime.pseudonyms.of("web-new-visitor", address, flood.hour_of(now))
        limit = self.runtime.settings.web_visitors_per_hour

        async def count(session: AsyncSession) -> bool:
            return await queries.count_towards_quota(session, key, limit, now + timedelta(hours=2))

        if not await self.runtime.db.write(count):
            return None
        return secrets.token_urlsafe(ID_BYTES)

    def _cookie(self, visitor: str) -> str:
        return f"{visitor}.{_mac(self._identity_keys[0], visitor)}"

    def _csrf(self, visitor: str) -> str:
        return _mac(self._csrf_keys[0], visitor)

    def _csrf_valid(self, visitor: str, given: str) -> bool:
        return any(http_input.same_secret(given, _mac(key, visitor)) for key in self._csrf_keys)

    # --- pieces -------------------------------------------------------------------------

    def _inbound(
        self, request: web.Request, visitor: str, delivery: str | None, button: str, text: str
    ) -> Inbound:
        settings, pseudonyms = self.runtime.settings, self.runtime.pseudonyms
        address = limit_key(self._clients.of(request).address)
        sender = Inbound(
            channel=CHANNEL,
            user_id=pseudonyms.of("web-visitor", visitor),
            delivery_id=delivery,
            language_hint=pages.language_of(request),
            timezone=settings.timezone,
            public_base_url=settings.public_base_url,
            origin=Origin(pseudonyms.of("web-client", address), settings.web_wishes_per_hour),
        )
        return replace(sender, button=button) if button else typed(sender, text)

    def _rendered(self, outcome: Outcome) -> tuple[list[str], Keyboard]:
        """The texts as Telegram would send them, and the buttons of the last."""
        if outcome.silent:
            return [], ()
        answer = answers.render(self.runtime.catalogues, outcome)
        keyboards = [keyboard for _, keyboard in answer.messages if keyboard]
        return [text for text, _ in answer.messages], keyboards[-1] if keyboards else ()

    def _commands(self, request: web.Request, exchange: Exchange) -> Commands:
        """The commands to offer as buttons: none beside an answer's own buttons; else those
        its texts name ("write /change or /great"), else the main ones."""
        if exchange.keyboard or not exchange.replies:
            return []
        named = [
            name
            for text in exchange.replies
            for name in NAMED_COMMAND.findall(text)
            if name in COMMANDS
        ]
        return [
            (self._label(request, name), name) for name in dict.fromkeys(named or MAIN_COMMANDS)
        ]

    def _label(self, request: web.Request, command: str) -> str:
        """A command as its button says it: its line in the Telegram menu, else itself."""
        language, key = pages.language_of(request), f"command.{command}"
        catalogues = self.runtime.catalogues
        return catalogues.text(language, Text(key)) if catalogues.has(language, key) else key

    def _show(
        self, request: web.Request, visitor: str, exchange: Exchange, before: list[Entry]
    ) -> web.Response:
        """The page: the visit's conversation so far, this exchange, the form (carrying the
        conversation on, but for a step that must leave nothing behind)."""
        carried = before if exchange.private else [*before, *exchange.entries()]
        place = request.query.get("place", "")
        response = self._page(
            request,
            history=before,
            said=exchange.said,
            replies=exchange.replies,
            buttons=exchange.keyboard,
            commands=self._commands(request, exchange),
            sealed=self._transcripts.seal(visitor, carried),
            place=place if http_input.municipality_key(place) else "",
            csrf=self._csrf(visitor),
        )
        response.set_cookie(
            COOKIE,
            self._cookie(visitor),
            max_age=COOKIE_DAYS * 86400,
            httponly=True,
            samesite="Lax",
            path=PATH,
            secure=self._clients.of(request).scheme == "https",
        )
        return response

    def _busy(self, request: web.Request) -> web.Response:
        """The page without a form: too many new visitors from this address this hour."""
        language = pages.language_of(request)
        notice = self.runtime.catalogues.text(language, Text("try.busy"))
        retry = str(_seconds_to_next_hour(utcnow()))
        return self._page(request, status=429, headers={"Retry-After": retry}, notice=notice)

    def _page(
        self,
        request: web.Request,
        *,
        history: list[Entry] | None = None,
        said: str = "",
        replies: list[str] | None = None,
        buttons: Keyboard = (),
        commands: Commands | None = None,
        sealed: str = "",
        place: str = "",
        csrf: str | None = None,
        notice: str = "",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """try.html; without `csrf` (no identity to post as), with no form."""
        language = pages.language_of(request)
        return pages.render(
            self.runtime.catalogues,
            "try.html",
            language,
            status=status,
            headers={"Cache-Control": "no-store", **(headers or {})},
            title=self.runtime.catalogues.text(language, Text("try.title")),
            history=history or [],
            said=said,
            replies=replies or [],
            buttons=buttons,
            commands=commands or [],
            sealed=sealed,
            place=place,
            csrf=csrf,
            notice=notice,
            delivery=secrets.token_urlsafe(12),
        )

    def _refused(self, request: web.Request, status: int) -> web.Response:
        """A form we cannot take (stale, forged, or not a form): say to reload the page."""
        refused = self.runtime.catalogues.text(pages.language_of(request), Text("try.forbidden"))
        return web.Response(status=status, text=refused)

    def _off(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        text = self.runtime.catalogues.text(language, Text("try.off"))
        return web.Response(status=404, text=text)


@dataclass(frozen=True)
class Exchange:
    """What the visitor sent (as they would read it) and what the bot answered."""

    said: str = ""
    replies: list[str] = field(default_factory=list)
    keyboard: Keyboard = ()
    private: bool = False  # a bribe report's or a signer's step: shown once, not carried

    def entries(self) -> list[Entry]:
        return [*([(YOU, self.said)] if self.said else []), *((BOT, r) for r in self.replies)]


async def _form(request: web.Request) -> dict[str, str] | None:
    """The form's fields as text; None for a body that is not a form of ours (a broken
    multipart body, bytes not in its charset, an unknown charset, a file)."""
    posted = await http_input.form_of(request)
    if posted is None:
        return None
    fields = {name: posted.get(name, "") for name in FIELDS}
    if not all(isinstance(value, str) for value in fields.values()):
        return None
    return {name: str(value) for name, value in fields.items()}


def _mac(key: bytes, visitor: str) -> str:
    return hmac.new(key, visitor.encode(), "sha256").hexdigest()


def _seconds_to_next_hour(now: datetime) -> int:
    return 3600 - (now.minute * 60 + now.second)
