"""The Telegram channel's registration (bot/channels/registry.py): on with TELEGRAM_BOT_TOKEN;
its webhook; its sender for notices and digests; /digest served by the digests.

The channel is imported only when it is built (or a command sends through it): the registry
imports this module whether Telegram is on or off."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.registration import Sender
from bot.channels.telegram import webhook
from bot.channels.telegram.live import CHANNEL, Running

if TYPE_CHECKING:
    from bot.channels.telegram.bot_api import BotApi
    from bot.runtime.config import Settings
    from bot.runtime.i18n import Catalogues
    from bot.runtime.served import Served
    from storage.db import Database

TELEGRAM_OFF = (
    "Telegram channel is off: set TELEGRAM_BOT_TOKEN to turn it on "
    "(and PUBLIC_BASE_URL to use a webhook instead of long polling)."
)


class Telegram:
    name = CHANNEL
    off = TELEGRAM_OFF

    def enabled(self, served: Served) -> bool:
        return bool(served.settings.telegram_bot_token)

    def build(self, served: Served) -> Running:
        from bot.channels.telegram.channel import TelegramChannel  # only when it is on

        return Running(
            TelegramChannel(
                served.settings, served.db, served.catalogues, served.pseudonyms, served.files
            )
        )

    def routes(self, served: Served) -> list[web.RouteDef]:
        return webhook.routes(served)


def sender_for(bot: BotApi, db: Database, settings: Settings, catalogues: Catalogues) -> Sender:
    """A sender for a command that sends on its own (civicbot digests send): its own outbox."""
    from bot.channels.telegram.outbox import telegram_outbox  # the command opened a BotApi
    from bot.channels.telegram.sender import TelegramSender

    return TelegramSender(bot, telegram_outbox(bot, db, settings), catalogues)


REGISTRATION = Telegram()
