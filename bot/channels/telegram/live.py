"""The Telegram channel while it runs, as the runtime holds it (bot/channels/registration.py
`Live`), and how the webhook, the runtime and the public pages find it (`running`).

Light: the registry, the webhook's route and the pages import this whether Telegram is on
or off, and a server without Telegram never loads the channel (bot/channels/telegram/
channel.py, its client and everything they import are imported only to be built)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.channels.registration import DigestsOnRequest, Sender
from storage.channels import TELEGRAM

if TYPE_CHECKING:
    from bot.channels.telegram.channel import TelegramChannel

CHANNEL = TELEGRAM  # storage/channels.py


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


def running(channels: Mapping[str, object]) -> TelegramChannel | None:
    """The Telegram channel among those turned on (Runtime.channels), if it is."""
    live = channels.get(CHANNEL)
    return live.channel if isinstance(live, Running) else None
