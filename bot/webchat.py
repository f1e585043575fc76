"""The web chat (`GET/POST /try`): the bot in a browser, on the same handlers as Telegram —
buttons, steps and answers alike — so that anyone can try it with no token, and residents
without Telegram or SMS can use it. Plain HTML forms; no script needed.

A visitor is a random cookie (only its keyed hash is stored, as the person's id on channel
"web"); each form carries a CSRF token bound to that cookie and a one-time id, so a form
sent twice is handled once. Messages the bot starts later (staff's answers) cannot reach a
browser: the resident reads them with /mine. WEB_CHAT=off turns it off.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING

from aiohttp import web

from bot import answers, pages
from bot.answers import Keyboard
from bot.budget import AnswerBudget, Verdict
from bot.ordering import KeyedLocks
from handlers import dispatch
from handlers.types import Inbound, Outcome, Text, typed

if TYPE_CHECKING:
    from bot.app import Runtime

CHANNEL = "web"
COOKIE = "civic_chat"
COOKIE_DAYS = 180
MESSAGES_PER_MINUTE = 30  # forms a visitor may send; more are refused (429), not handled
TEXT_LIMIT = 4000  # characters taken from the form; the handlers say what is too long


class WebChat:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._csrf_key = runtime.pseudonyms.derive("web-chat-csrf")
        self._senders = KeyedLocks()
        self._budget = AnswerBudget(MESSAGES_PER_MINUTE, 60.0)  # per visitor, as on Telegram

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/try", self.page), web.post("/try", self.post)]

    async def page(self, request: web.Request) -> web.Response:
        if not self.runtime.settings.web_chat:
            return self._off(request)
        token = request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
        return self._show(request, token, said="", replies=[], keyboard=())

    async def post(self, request: web.Request) -> web.Response:
        if not self.runtime.settings.web_chat:
            return self._off(request)
        form = await request.post()
        token = request.cookies.get(COOKIE, "")
        given = str(form.get("csrf", ""))
        if not token or not hmac.compare_digest(given, self._csrf(token)):
            refused = self.runtime.catalogues.text(
                pages.language_of(request), Text("try.forbidden")
            )
            return web.Response(status=403, text=refused)
        if self._budget.take(token) is not Verdict.ANSWER:  # not handled: nothing is lost
            language = pages.language_of(request)
            flood = self.runtime.catalogues.text(language, Text("flood.messages"))
            return web.Response(status=429, text=flood, headers={"Retry-After": "60"})
        button, text = str(form.get("button", "")), str(form.get("text", ""))[:TEXT_LIMIT]
        delivery = str(form.get("m", ""))[:64] or None
        inbound = self._inbound(request, token, delivery, button, text)
        async with self._senders.hold(inbound.user_id):  # one visitor's messages in order
            outcome = await dispatch.handle(
                self.runtime.db, self.runtime.pseudonyms, inbound, files=self.runtime.files
            )
        said = "" if button else text
        if outcome is None:  # the same form sent again: handled once already
            return self._show(request, token, said, [], ())
        replies, keyboard = self._rendered(outcome)
        return self._show(request, token, said, replies, keyboard)

    # --- pieces -------------------------------------------------------------------------

    def _inbound(
        self, request: web.Request, token: str, delivery: str | None, button: str, text: str
    ) -> Inbound:
        sender = Inbound(
            channel=CHANNEL,
            user_id=self.runtime.pseudonyms.of("web-visitor", token),
            delivery_id=delivery,
            language_hint=pages.language_of(request),
            timezone=self.runtime.settings.timezone,
        )
        return replace(sender, button=button) if button else typed(sender, text)

    def _rendered(self, outcome: Outcome) -> tuple[list[str], Keyboard]:
        """The texts as Telegram would send them, and the buttons of the last."""
        if outcome.silent:
            return [], ()
        answer = answers.render(self.runtime.catalogues, outcome)
        keyboards = [keyboard for _, keyboard in answer.messages if keyboard]
        return [text for text, _ in answer.messages], keyboards[-1] if keyboards else ()

    def _csrf(self, token: str) -> str:
        return hmac.new(self._csrf_key, token.encode(), "sha256").hexdigest()

    def _show(
        self,
        request: web.Request,
        token: str,
        said: str,
        replies: list[str],
        keyboard: Keyboard,
    ) -> web.Response:
        response = pages.render(
            self.runtime.catalogues,
            "try.html",
            pages.language_of(request),
            headers={"Cache-Control": "no-store"},
            title=self.runtime.catalogues.text(pages.language_of(request), Text("try.title")),
            said=said,
            replies=replies,
            buttons=keyboard,
            csrf=self._csrf(token),
            delivery=secrets.token_urlsafe(12),
        )
        response.set_cookie(
            COOKIE,
            token,
            max_age=COOKIE_DAYS * 86400,
            httponly=True,
            samesite="Lax",
            path="/try",
            secure=request.secure,
        )
        return response

    def _off(self, request: web.Request) -> web.Response:
        language = pages.language_of(request)
        text = self.runtime.catalogues.text(language, Text("try.off"))
        return web.Response(status=404, text=text)
