"""The Telegram channel: Bot API updates (read by bot/channels/telegram/updates.py) become
`Inbound` actions for the handlers, and their replies messages with inline buttons, sent
through our Bot API client (bot_api.py) and our outbox. No rules live here.

Updates arrive by webhook (our aiohttp server calls `process`) or by our own long-polling
loop, which asks for the next updates only after the previous ones are handled and
committed — so an update is never acknowledged before its writes are safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from bot.channels import answers, images, pictures
from bot.channels.acks import Failures, NotKept, reason
from bot.channels.answers import Answer, RecentKeys
from bot.channels.budget import AnswerBudget, Verdict
from bot.channels.ordering import KeyedLocks
from bot.channels.registration import DigestsOnRequest
from bot.channels.telegram.bot_api import BotApi, telegram_bot
from bot.channels.telegram.errors import BadRequest, InvalidToken, RetryAfter, TelegramError
from bot.channels.telegram.outbox import Call, message, telegram_outbox
from bot.channels.telegram.sender import TelegramSender
from bot.channels.telegram.updates import Photo, Received, read_update
from bot.reports import campaign_summary, poster
from bot.runtime import metrics
from bot.runtime.config import Settings
from bot.runtime.i18n import Catalogues
from handlers import dispatch
from handlers.context import guess_language
from handlers.log_fields import fields
from handlers.pseudonyms import Pseudonyms
from handlers.roles import RESIDENT_MENU
from handlers.types import DigestOrder, Inbound, Outcome, Text
from storage import queries
from storage.channels import TELEGRAM
from storage.db import Database
from storage.domain import LANGUAGES
from storage.files import FileStore

CHANNEL = TELEGRAM  # storage/channels.py (bot/channels/telegram/live.py)
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates call open
MAX_BACKOFF = 60.0
ANSWER_WAIT = 20.0  # seconds a webhook waits for its answers to go before it says 200
ANSWERS_PER_MINUTE = 60  # to one chat; more than anyone types (bot/channels/budget.py)
POLLING_LOCK = 0x706F6C6C  # "poll": PostgreSQL advisory lock of the worker that polls
LEADER_RETRY = 15.0  # seconds between looks for the polling lock
ANSWERED_MEMORY = 10_000  # update ids remembered as answered by this process
MIN_SIDE = 320  # pixels: a photo size smaller than this (a thumbnail) shows nothing
UNREACHABLE = "photo.unreachable"

log = logging.getLogger(__name__)


@dataclass
class _Handling:
    """The answers queued for one update, which `process` waits for."""

    answers: list[asyncio.Future[bool]] = field(default_factory=list)
    # By webhook, the response may carry one Bot API call, which Telegram makes without saying
    # whether it worked: only a call whose failure loses nothing rides there (`_ride`).
    by_webhook: bool = False
    reply: dict[str, object] | None = None


# Set by `process` for the update it handles, so that `_post`, deep in a handler, can tell
# it what to wait for.
_CURRENT: ContextVar[_Handling | None] = ContextVar("telegram_update", default=None)
Handler = Callable[[Received], Awaitable[None]]


class TelegramChannel:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        catalogues: Catalogues,
        pseudonyms: Pseudonyms,
        files: FileStore,
    ) -> None:
        assert settings.telegram_bot_token
        self.settings = settings
        self.db = db
        self.pseudonyms = pseudonyms
        self.catalogues = catalogues
        self.files = files  # residents' photos (bot.runtime.database.file_store)
        # What Telegram's webhook must send, worked out once: the keys are read at start (on
        # SQLite from the key file; a rotation restarts the bot), not on every update.
        self.webhook_secrets = settings.webhook_secrets()
        # Our own routing (`handler_for`) and long polling (`_poll`) on our Bot API client
        # (docs/decisions.md).
        self.bot = telegram_bot(settings)
        self.outbox = telegram_outbox(self.bot, db, settings)
        self.chats = KeyedLocks()
        self.answered = RecentKeys(ANSWERED_MEMORY)  # updates this process answered
        self.budget = AnswerBudget(ANSWERS_PER_MINUTE, 60.0)
        self.failures = Failures()
        self.ready = asyncio.Event()
        # Notices and digests (bot/channels/notices.py, bot/digests/delivery.py).
        self.sender = TelegramSender(self.bot, self.outbox, catalogues, self.ready)
        self.polling = False  # this worker is the one that long-polls
        self.digests: DigestsOnRequest | None = None  # set by the runtime: for /digest
        self._task: asyncio.Task[None] | None = None

    # --- the handlers, in one place ----------------------------------------------------

    def handler_for(self, update: Received) -> Handler | None:
        """The handler `read_update` named for the update (None: not one of ours)."""
        return None if update.handler is None else getattr(self, f"on_{update.handler}")

    async def on_command(self, update: Received) -> None:
        assert update.text is not None
        head, _, argument = update.text.partition(" ")
        command = head.lstrip("/").split("@", 1)[0].lower()
        await self._handle_and_reply(update, command=command, argument=argument.strip())

    async def on_text(self, update: Received) -> None:
        await self._handle_and_reply(update, text=update.text)

    async def on_button(self, update: Received) -> None:
        press, chat_id = update.press, update.chat_id
        assert press is not None
        async with self.chats.hold(chat_id):
            handled = await self._handle(update, button=press.data)
            if handled is None:
                return
            calls: list[Call] = []
            if handled.button_accepted and press.message_id is not None:
                # The keyboard has done its job; removing it keeps old buttons from being
                # pressed.
                calls.append(_without_keyboard(chat_id, press.message_id))
            toast = "" if handled.silent else handled.answer.toast
            if not await self._answer_press(press.query_id, toast):
                calls.append(message(chat_id, toast))  # never lost: a message instead
            answer, follow_ups = self._answers(chat_id, handled)
            self._post(update, calls + answer, follow_ups)

    def _ride(self, method: str, **parameters: object) -> bool:
        """Put a call in the webhook's response instead of a request of its own, if the
        update came by webhook and nothing rides there yet. Only for a press's bare answer:
        lost, the spinner stops by itself a few seconds later (docs/decisions.md)."""
        handling = _CURRENT.get()
        if handling is None or not handling.by_webhook or handling.reply is not None:
            return False
        handling.reply = {"method": method, **parameters}
        return True

    async def _answer_press(self, query_id: str, toast: str) -> bool:
        """Stop the button's spinner, showing `toast` if there is one: Telegram's answer to
        a press, not a chat message, so not under the 30 a second; a bare answer rides in the
        webhook's response when it can. False if a toast was not shown (it then goes as a
        message)."""
        if not toast and self._ride("answerCallbackQuery", callback_query_id=query_id):
            return True
        try:
            await self.bot.call(
                "answerCallbackQuery",
                callback_query_id=query_id,
                **({"text": toast} if toast else {}),
            )
        except TelegramError as error:
            if toast:
                log.warning("answerCallbackQuery failed (%s); the toast goes as a message", error)
            return not toast
        return True

    async def on_pictures(self, update: Received) -> None:
        """A photo (or an image sent as a file), with its caption as text: fetched and
        made safe before the handlers decide whether to keep it — unless a look at the
        sender says they would not (bot/channels/pictures.py)."""
        sender = Inbound(channel=CHANNEL, user_id=str(update.chat_id))

        async def fetched() -> dict[str, Any]:
            fetches = [self._fetch(update)]
            taken, problem = await pictures.fetch_if_taken(
                self.db, self.pseudonyms, sender, fetches
            )
            return {"pictures": taken, "picture_problem": problem, "text": update.text}

        await self._handle_and_reply(update, fetched)

    def _fetch(self, update: Received) -> pictures.Fetch:
        """How to fetch the update's image: its largest size we take, through getFile."""
        if update.photos:
            file_id = _photo_size(update.photos)
        else:
            document = update.document
            assert document is not None
            too_big = (document.file_size or 0) > images.MAX_BYTES
            file_id = None if too_big else document.file_id

        async def fetch() -> bytes:
            if file_id is None:
                raise pictures.NotFetched("photo.too_big")
            try:
                return await self.bot.download(file_id)
            except BadRequest as error:
                too_big = "too big" in error.message  # over the Bot API's 20 MB
                raise pictures.NotFetched("photo.too_big" if too_big else UNREACHABLE) from error
            except TelegramError as error:
                raise pictures.NotFetched(UNREACHABLE) from error

        return fetch

    async def on_location(self, update: Received) -> None:
        await self._handle_and_reply(update, location=update.place)

    async def on_unsupported(self, update: Received) -> None:
        await self._handle_and_reply(update, unsupported=update.attachment)

    # --- from an update to the handlers and back -------------------------------------------

    async def _handle_and_reply(
        self,
        update: Received,
        prepare: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        **action: Any,
    ) -> None:
        """Handle an update in its chat's turn; `prepare` (fetching a photo) runs in that
        turn too, so that a chat's updates are handled in the order they came."""
        async with self.chats.hold(update.chat_id):
            if prepare is not None:
                action |= await prepare()
            handled = await self._handle(update, **action)
            if handled is not None:
                self._post(update, *self._answers(update.chat_id, handled))

    async def _handle(self, update: Received, **action: Any) -> _Handled | None:
        """Hand one action to the handlers; what to answer. An update handled before is
        answered again with the answer kept for it, unless this process answered it (a
        crash may have come between the commit and the sending); else None."""
        inbound = Inbound(
            channel=CHANNEL,
            user_id=str(update.chat_id),
            delivery_id=str(update.update_id),
            language_hint=update.language,
            timezone=self.settings.timezone,
            bot_username=self.bot.username,
            public_base_url=self.settings.public_base_url,
            **action,
        )
        rendered: list[Answer] = []

        pressed = "button" in action  # a toast answers a press (bot/channels/answers.py)

        def keep(outcome: Outcome) -> str:
            """Rendered once, inside the transaction; kept unless it must not be."""
            rendered.append(answers.render(self.catalogues, outcome, pressed))
            return answers.kept(rendered[-1], outcome)

        outcome = await dispatch.handle(
            self.db, self.pseudonyms, inbound, render=keep, files=self.files
        )
        kind = next(iter(action))
        metrics.counted(CHANNEL, kind, outcome)
        if outcome is not None:
            return _Handled(rendered[-1], outcome.silent, outcome.button_accepted)
        if update.update_id in self.answered:
            return None
        kept = await dispatch.previous_reply(
            self.db, self.pseudonyms, CHANNEL, str(update.update_id)
        )
        return _Handled(Answer.from_json(kept), silent=False) if kept else None

    def _post(self, update: Received, calls: list[Call], follow_ups: list[Call]) -> None:
        """Queue the answer; the update's `process` waits for it. Its follow-ups go after
        it in the chat's queue, at the broadcast pace, and nobody waits for them: a message
        that does not answer the action (a poll's closing question) must not hold the
        webhook's 200 to Telegram's 30 a second (docs/decisions.md)."""
        self.answered.add(update.update_id)
        sent = self.outbox.post(update.chat_id, calls)
        self.outbox.follow(update.chat_id, follow_ups)
        handling = _CURRENT.get()
        if handling is not None:
            handling.answers.append(sent)

    def _answers(self, chat_id: int, handled: _Handled) -> tuple[list[Call], list[Call]]:
        """The answer's calls and its follow-ups', within the chat's answer budget
        (bot/channels/budget.py)."""
        if handled.silent:
            return [], []
        verdict = self.budget.take(chat_id)
        if verdict is Verdict.QUIET:
            return [], []
        if verdict is Verdict.NOTICE:
            text = self.catalogues.text(handled.answer.language, Text("flood.messages"))
            return [message(chat_id, text)], []
        answer = handled.answer
        follow_ups = [message(chat_id, text, keyboard) for text, keyboard in answer.following]
        return self._calls(chat_id, answer), follow_ups

    def _calls(self, chat_id: int, answer: Answer) -> list[Call]:
        """The Bot API calls that answer the action, in order (not its follow-ups)."""
        calls = [message(chat_id, text, keyboard) for text, keyboard in answer.answering]
        calls += [self._digest_call(chat_id, answer.language, order) for order in answer.digests]
        calls += [self._poster_call(chat_id, code) for code in answer.posters]
        calls += [self._chart_call(chat_id, answer.language, code) for code in answer.charts]
        calls += [self._photo_call(chat_id, key) for key in answer.photos]
        if answer.menu_language is not None:
            names = answer.menu or RESIDENT_MENU  # kept before menus had their commands
            calls.append(self._menu_call(chat_id, answer.menu_language, names))
        return calls

    def _menu_call(self, chat_id: int, language: str, names: Sequence[str]) -> Call:
        """The chat's own command menu (Telegram's per-chat scope, over the default one):
        the person's roles' commands and a resident's, in their language."""
        commands = self.menu(language, names)

        async def call(bot: BotApi) -> None:
            scope = {"type": "chat", "chat_id": chat_id}
            await bot.call("setMyCommands", commands=commands, scope=scope)

        return call

    def _digest_call(self, chat_id: int, language: str, order: DigestOrder) -> Call:
        """A digest asked for with /digest, sent after the reply's text (its parts go
        through the outbox at the broadcast pace)."""
        digests = self.digests
        assert digests is not None

        async def call(_bot: BotApi) -> None:
            # Built afresh, sent straight away, no row kept.
            username = self.sender.username()
            for part in await digests.compose_now(language, order, username):
                await self.sender.send_part(chat_id, part, digests.send_within)

        return call

    def _poster_call(self, chat_id: int, code: str) -> Call:
        """A campaign's poster, for its organizer to print: PNG and PDF, as documents (a
        photo would be scaled down below print quality)."""

        async def call(bot: BotApi) -> None:
            async with self.db.session() as session:
                campaign = await queries.campaign_by_code(session, code)
            if campaign is None:
                return
            made = poster.make(campaign, bot.username, self.settings.twilio_from_number)
            page = await asyncio.to_thread(made.page)  # a second of drawing, off the loop
            for kind in ("PNG", "PDF"):
                document = await asyncio.to_thread(poster.encode, page, kind)
                name = f"poster-{campaign.code}.{kind.lower()}"
                await bot.send_document(chat_id, document, filename=name)

        return call

    def _chart_call(self, chat_id: int, language: str, code: str) -> Call:
        """A campaign's tally drawn, after its text (/campaign), as of when it is sent."""

        async def call(bot: BotApi) -> None:
            picture = await campaign_summary.chart_of(self.db, self.catalogues, code, language)
            if picture is not None:
                await bot.send_photo(chat_id, picture, filename=f"campaign-{code}.png")

        return call

    def _photo_call(self, chat_id: int, key: str) -> Call:
        """A resident's photo, for staff: read from the file store when it is sent."""

        async def call(bot: BotApi) -> None:
            data = await self.files.get(key)
            if data is not None:  # gone meanwhile (/forget): nothing to show
                await bot.send_photo(chat_id, data, filename=key)

        return call

    def menu(self, language: str, names: Sequence[str] = RESIDENT_MENU) -> list[dict[str, str]]:
        """The Bot API's BotCommand list: each command with its description."""
        describe = self.catalogues.text
        return [
            {"command": name, "description": describe(language, Text(f"command.{name}"))}
            for name in names
        ]

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background, so that the web server runs even while Telegram is
        unreachable."""
        self._task = asyncio.create_task(self._run(), name="telegram")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.outbox.drain()
        await self.bot.shutdown()  # a no-op if it never initialised

    async def process(self, update: Received, by_webhook: bool = False) -> dict[str, object] | None:
        """Handle one update; returns once its writes are committed and its answers sent (or
        ANSWER_WAIT has passed: they go on from the outbox). NotKept if it must come again.
        `by_webhook`: what it returns is the call for the webhook's response, if any."""
        handler = self.handler_for(update)
        if handler is None:
            return None
        handling = _Handling(by_webhook=by_webhook)
        token = _CURRENT.set(handling)
        try:
            await handler(update)
        except Exception as error:
            await self._failed(update, error, handling)
        finally:
            _CURRENT.reset(token)
        if handling.answers:
            await asyncio.wait(handling.answers, timeout=ANSWER_WAIT)
        return handling.reply

    async def _failed(self, update: Received, error: Exception, handling: _Handling) -> None:
        """A handler failed before its commit: nothing was sent, and the update is refused
        (NotKept) so that it comes again — unless it failed too often (`_apologise`)."""
        metrics.HANDLER_ERRORS.labels(CHANNEL).inc()
        log.error(
            "telegram update failed (%s)",
            reason(error),
            exc_info=error,
            extra=fields("inbound", channel=CHANNEL, outcome=f"not_kept_{reason(error)}"),
        )
        not_kept = self.failures.not_kept(str(update.update_id), error)
        metrics.NOT_KEPT.labels(CHANNEL, reason(error)).inc()
        if not not_kept.give_up:
            raise not_kept
        handling.answers.append(await self._apologise(update))

    async def _apologise(self, update: Received) -> asyncio.Future[bool]:
        """An update that failed again and again (a fault of ours, not the database): it is
        given up, and the person told so."""
        log.error(
            "telegram update %d failed repeatedly; apologising and moving on", update.update_id
        )
        chat_id = update.chat_id
        language = await _language_or_default(self.db, str(chat_id), update.language)
        text = self.catalogues.text(language, Text("error.internal"))
        return self.outbox.post(chat_id, [message(chat_id, text)])

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._connect()
                break
            except InvalidToken:
                log.error("Telegram rejected TELEGRAM_BOT_TOKEN; the Telegram channel stays off")
                return
            except TelegramError as error:
                log.warning("Telegram not ready (%s); retrying in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        self.ready.set()
        if not self.settings.telegram_webhook_url:
            await self._poll_as_leader()

    async def _poll_as_leader(self) -> None:
        """Long polling in one worker only (Telegram refuses a second getUpdates with 409):
        on PostgreSQL the worker holding an advisory lock polls, the others look again now
        and then and take over when it stops."""
        while True:
            async with self.db.exclusive(POLLING_LOCK) as leader:
                if leader:
                    self.polling = True
                    try:
                        await self._poll()
                    finally:
                        self.polling = False
                else:
                    log.info(
                        "Telegram: another worker polls; looking again in %.0f s", LEADER_RETRY
                    )
            await asyncio.sleep(LEADER_RETRY)

    async def _connect(self) -> None:
        """Everything before updates can flow; safe to repeat after a failure."""
        await self.bot.initialize()  # a no-op once done
        await self._set_menus()
        webhook_url = self.settings.telegram_webhook_url
        if webhook_url:
            await self.bot.call(
                "setWebhook",
                url=webhook_url,
                secret_token=self.webhook_secrets[0],  # the one the webhook checks
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("Telegram: webhook set")
        else:
            await self.bot.call("deleteWebhook")
            log.info("Telegram: long polling")

    async def _set_menus(self) -> None:
        """A resident's menu for everyone, by language; a chat's own (roles) is set by
        `_menu_call`."""
        bot = self.bot
        await bot.call("setMyCommands", commands=self.menu("ky"))  # Kyrgyz first
        for language in LANGUAGES:
            await bot.call("setMyCommands", commands=self.menu(language), language_code=language)

    async def _poll(self) -> None:
        offset: int | None = None
        delay = retry = 1.0
        while True:
            try:
                updates = await self.bot.get_updates(offset, POLL_TIMEOUT, ALLOWED_UPDATES)
            except RetryAfter as error:
                await asyncio.sleep(error.retry_after)
                continue
            except TelegramError as error:  # network, a webhook set elsewhere (Conflict), …
                log.warning("getUpdates failed (%s); retrying in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            delay = 1.0
            for update in updates:
                update_id = update.get("update_id")
                if not isinstance(update_id, int):
                    log.warning("telegram: an update without its update_id skipped")
                    continue
                try:
                    await self.process(read_update(update))  # as a webhook's
                except ValueError as error:  # malformed: acknowledged, as a webhook's 400
                    log.warning("telegram update %d skipped: %s", update_id, error)
                except NotKept:
                    # Not acknowledged: the next getUpdates returns it again.
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, MAX_BACKOFF)
                    break
                retry = 1.0
                offset = update_id + 1


@dataclass(frozen=True)
class _Handled:
    """What to answer an update."""

    answer: Answer
    silent: bool  # the person opted out: nothing is sent
    button_accepted: bool = False  # the pressed keyboard has done its job


def _photo_size(sizes: Sequence[Photo]) -> str | None:
    """The file of the largest size of a photo we take, else of a smaller one that still
    shows something (not a thumbnail); None if every such size is too big."""
    by_area = sorted(sizes, key=lambda p: p.width * p.height, reverse=True)
    for number, size in enumerate(by_area):
        fits = (size.file_size or 0) <= images.MAX_BYTES
        if fits and (number == 0 or max(size.width, size.height) >= MIN_SIDE):
            return size.file_id
    return None


def _without_keyboard(chat_id: int, message_id: int) -> Call:
    async def call(bot: BotApi) -> None:
        with contextlib.suppress(BadRequest):  # already gone, or the message too old
            await bot.call("editMessageReplyMarkup", chat_id=chat_id, message_id=message_id)

    return call


async def _language_or_default(db: Database, user_id: str, hint: str | None) -> str:
    try:
        return await dispatch.language_of(db, CHANNEL, user_id, hint)
    except Exception:  # the database is what failed, perhaps
        return guess_language(hint)
