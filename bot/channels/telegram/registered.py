"""The Telegram channel's registration (bot/channels/registry.py): on with TELEGRAM_BOT_TOKEN;
its webhook; its sender for notices and digests; /digest served by the digests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web
from telegram import Bot

from bot.channels.registration import DigestsOnRequest, Sender
from bot.channels.telegram import webhook
from bot.channels.telegram.channel import CHANNEL, TelegramChannel
from bot.channels.telegram.outbox import telegram_outbox
from bot.channels.telegram.sender import TelegramSender
from bot.runtime.config import Settings
from bot.runtime.i18n import Catalogues
from storage.db import Database

if TYPE_CHECKING:
    from bot.runtime.served import Served

TELEGRAM_OFF = (
    "Telegram channel is off: set TELEGRAM_BOT_TOKEN to turn it on "
    "(and PUBLIC_BASE_URL to use a webhook instead of long polling)."
)


class Running:
    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.senders: Mapping[str, Sender] = {CHANNEL: channel.sender}

    async def start(self, base_url: str) -> None:
        await self.channel.start()  # connects in the background

    async def stop(self) -> None:
        await self.channel.stop()

    def serve_digests(self, digests: DigestsOnRequest) -> None:
        self.channel.digests = digests  # for /digest


class Telegram:
    name = CHANNEL
    off = TELEGRAM_OFF

    def enabled(self, served: Served) -> bool:
        return bool(served.settings.telegram_bot_token)

    def build(self, served: Served) -> Running:
        return Running(
            TelegramChannel(
                served.settings, served.db, served.catalogues, served.pseudonyms, served.files
            )
        )

    def routes(self, served: Served) -> list[web.RouteDef]:
        return webhook.routes(served)


def sender_for(bot: Bot, db: Database, settings: Settings, catalogues: Catalogues) -> Sender:
    """A sender for a command that sends on its own (civicbot digests send): its own outbox."""
    return TelegramSender(bot, telegram_outbox(bot, db, settings), catalogues)


REGISTRATION = Telegram()
