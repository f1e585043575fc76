"""The web chat's registration (bot/channels/registry.py): `/try`, on unless WEB_CHAT=off.
It has no sender: a browser hears the bot only while the page is open (storage/channels.py:
not reachable), so notices and digests pass it by."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.registration import DigestsOnRequest, Sender
from bot.channels.webchat.channel import CHANNEL, PATH, WebChat
from handlers.log_fields import HINT, fields

if TYPE_CHECKING:
    from bot.runtime.served import Served

log = logging.getLogger(__name__)


class Running:
    senders: Mapping[str, Sender] = {}

    async def start(self, base_url: str) -> None:
        log.info("Open %s%s to try the bot in a browser", base_url, PATH, extra=fields(HINT))

    async def stop(self) -> None:
        """Nothing runs but its routes."""

    def serve_digests(self, digests: DigestsOnRequest) -> None:
        """No /digest in a browser."""


class WebChatChannel:
    name = CHANNEL
    off = ""  # WEB_CHAT=off is said by the page itself

    def enabled(self, served: Served) -> bool:
        return served.settings.web_chat

    def build(self, served: Served) -> Running:
        return Running()

    def routes(self, served: Served) -> list[web.RouteDef]:
        return WebChat(served).routes()


REGISTRATION = WebChatChannel()
