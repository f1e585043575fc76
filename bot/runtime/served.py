"""What the web server's routes need of the running service: its parts, as a protocol.

`bot.runtime.app.Runtime` has them; the routes (bot/web/server.py and the pages, open data,
web chat, photos and /metrics it serves) name this instead, so that they do not depend on the module
that starts everything — which imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.channels.sms.channel import SmsChannel
    from bot.channels.telegram.channel import TelegramChannel
    from bot.runtime.config import Settings
    from bot.runtime.i18n import Catalogues
    from handlers.pseudonyms import Pseudonyms
    from storage.db import Database
    from storage.files import FileStore


class Served(Protocol):
    settings: Settings
    catalogues: Catalogues
    db: Database
    pseudonyms: Pseudonyms
    files: FileStore  # residents' photos

    @property
    def telegram(self) -> TelegramChannel | None:  # None while the channel is off
        ...

    @property
    def sms(self) -> SmsChannel | None: ...
