"""The Telegram channel: python-telegram-bot turns Bot API updates into `Inbound` actions for
the handlers, and their replies back into messages with inline buttons. No rules live here.

Updates arrive by webhook (our aiohttp server calls `process`) or by our own long-polling
loop, which asks for the next updates only after the previous ones are handled and
committed — so an update is never acknowledged before its writes are safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import MessageLimit
from telegram.error import Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import metrics
from bot.config import Settings
from bot.i18n import LANGUAGES, Catalogues
from handlers import dispatch
from handlers.pseudonyms import Pseudonyms
from handlers.router import MENU
from handlers.types import Inbound, Outcome, Reply, Text
from storage import queries
from storage.db import Database

if TYPE_CHECKING:
    from bot.digests.delivery import Digests

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates call open
MAX_BACKOFF = 60.0

log = logging.getLogger(__name__)


def seconds(value: float | timedelta) -> float:
    """A Bot API duration (retry_after) in seconds, whichever type PTB gives."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Split a long text into pieces under Telegram's limit, preferring line breaks."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text else pieces


class TelegramChannel:
    def __init__(
        self, settings: Settings, db: Database, catalogues: Catalogues, pseudonyms: Pseudonyms
    ) -> None:
        assert settings.telegram_bot_token
        self.settings = settings
        self.db = db
        self.pseudonyms = pseudonyms
        self.catalogues = catalogues
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token)
            .base_url(settings.telegram_api_base_url)
            .updater(None)  # we poll ourselves, see `_poll`
            .build()
        )
        self.ready = asyncio.Event()
        self.digests: Digests | None = None  # set by the runtime; sends what /digest asks for
        self._task: asyncio.Task[None] | None = None
        self._register(self.application)

    # --- the handlers, in one place ----------------------------------------------------

    def _register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        private_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
        app.add_handler(MessageHandler(private_message & filters.COMMAND, self.on_command))
        app.add_handler(MessageHandler(private_message & filters.TEXT, self.on_text))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(private_message, self.on_unsupported))
        app.add_error_handler(self.on_error)

    async def on_command(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        head, _, argument = message.text.partition(" ")
        command = head.lstrip("/").split("@", 1)[0].lower()
        await self._handle_and_reply(update, command=command, argument=argument.strip())

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self._handle_and_reply(update, text=update.effective_message.text)

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        outcome = await self._handle(update, button=query.data or "")
        if outcome is None:
            return
        await query.answer()
        if outcome.button_accepted and isinstance(query.message, Message):
            # The keyboard has done its job; removing it keeps old buttons from being pressed.
            with contextlib.suppress(NetworkError, Forbidden):
                await query.message.edit_reply_markup(reply_markup=None)
        assert update.effective_chat is not None
        await self._deliver(update.effective_chat.id, outcome)

    async def on_unsupported(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        attachment = message.effective_attachment
        kind = type(attachment).__name__.lower() if attachment is not None else "other"
        await self._handle_and_reply(update, unsupported=kind)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        metrics.HANDLER_ERRORS.labels(CHANNEL).inc()
        log.error("telegram update failed", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        with contextlib.suppress(Exception):  # already failing: never raise from here
            language = await dispatch.language_of(
                self.db,
                CHANNEL,
                str(update.effective_chat.id),
                user.language_code if user else None,
            )
            await context.bot.send_message(
                update.effective_chat.id, self.catalogues.text(language, Text("error.internal"))
            )

    # --- from an update to the handlers and back -------------------------------------------

    async def _handle_and_reply(self, update: Update, **action: Any) -> None:
        outcome = await self._handle(update, **action)
        if outcome is not None and update.effective_chat is not None:
            await self._deliver(update.effective_chat.id, outcome)

    async def _handle(self, update: Update, **action: Any) -> Outcome | None:
        """Hand one action to the handlers; None if this update was handled before."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None
        inbound = Inbound(
            channel=CHANNEL,
            user_id=str(chat.id),
            delivery_id=str(update.update_id),
            language_hint=user.language_code if user else None,
            timezone=self.settings.timezone,
            bot_username=self.application.bot.username,
            **action,
        )
        outcome = await dispatch.handle(self.db, self.pseudonyms, inbound)
        kind = next(iter(action))
        metrics.INBOUND.labels(CHANNEL, "duplicate" if outcome is None else kind).inc()
        return outcome

    async def _deliver(self, chat_id: int, outcome: Outcome) -> None:
        try:
            for reply in outcome.replies:
                await self._send(chat_id, outcome.language, reply)
            if outcome.language_changed:
                await self.application.bot.set_my_commands(
                    self.menu(outcome.language), scope=BotCommandScopeChat(chat_id)
                )
        except Forbidden:
            await self._blocked(chat_id)

    async def _send(self, chat_id: int, language: str, reply: Reply) -> None:
        markup = None
        if reply.buttons:
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            self.catalogues.label(language, b.label), callback_data=b.payload
                        )
                        for b in row
                    ]
                    for row in reply.buttons
                ]
            )
        pieces = split_text(self.catalogues.reply(language, reply)) if reply.parts else []
        for number, piece in enumerate(pieces, start=1):
            last = number == len(pieces)
            await self.application.bot.send_message(
                chat_id, piece, reply_markup=markup if last else None
            )
        for order in reply.digests:
            assert self.digests is not None
            await self.digests.send_now(chat_id, language, order)

    async def send_text(self, chat_id: int, text: str) -> bool:
        """Send a message we start (a notice); False if the person has blocked the bot."""
        try:
            for piece in split_text(text):
                await self.application.bot.send_message(chat_id, piece)
        except Forbidden:
            await self._blocked(chat_id)
            return False
        return True

    async def _blocked(self, chat_id: int) -> None:
        """The person blocked the bot: nothing more goes to them until they write again."""
        async with self.db.session() as session, session.begin():
            await queries.mark_opted_out(session, CHANNEL, str(chat_id))

    def menu(self, language: str) -> list[BotCommand]:
        return [
            BotCommand(name, self.catalogues.text(language, Text(f"command.{name}")))
            for name in MENU
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
        await self.application.shutdown()  # a no-op if it never initialised

    def parse(self, data: dict[str, Any]) -> Update:
        """An update from webhook JSON; ValueError if it does not have an update's shape."""
        try:
            return Update.de_json(data, self.application.bot)
        except (TypeError, KeyError, AttributeError, ValueError) as error:
            raise ValueError(f"malformed update: {error}") from error

    async def process(self, update: Update) -> None:
        """Handle one update received by webhook; returns once its writes are committed."""
        await self.application.process_update(update)

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
            await self._poll()

    async def _connect(self) -> None:
        """Everything before updates can flow; safe to repeat after a failure."""
        await self.application.initialize()  # a no-op once done
        await self._set_menus()
        webhook_url = self.settings.telegram_webhook_url
        if webhook_url:
            await self.application.bot.set_webhook(
                webhook_url,
                secret_token=self.settings.webhook_secret(),
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("Telegram: webhook set")
        else:
            await self.application.bot.delete_webhook()
            log.info("Telegram: long polling")

    async def _set_menus(self) -> None:
        bot = self.application.bot
        await bot.set_my_commands(self.menu("ky"))  # the default: Kyrgyz first
        for language in LANGUAGES:
            await bot.set_my_commands(self.menu(language), language_code=language)

    async def _poll(self) -> None:
        offset: int | None = None
        delay = 1.0
        while True:
            try:
                updates = await self.application.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
            except RetryAfter as error:
                await asyncio.sleep(seconds(error.retry_after))
                continue
            except TelegramError as error:  # network, a webhook set elsewhere (Conflict), …
                log.warning("getUpdates failed (%s); retrying in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            delay = 1.0
            for update in updates:
                await self.application.process_update(update)
                offset = update.update_id + 1
