"""What the web server's routes need of the running service: its parts, as a protocol.

`bot.runtime.app.Runtime` has them; the routes (bot/web/server.py and the pages, open data,
web chat, photos and /metrics it serves) name this instead, so that they do not depend on the module
that starts everything — which imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

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

    # The channels turned on, by name; each channel's package finds its own in it
    # (`running()` in bot/channels/telegram/live.py and bot/channels/sms/channel.py).
    @property
    def channels(self) -> Mapping[str, object]: ...
