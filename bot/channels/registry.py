"""Every channel, registered once: the runtime builds those the settings turn on, the web
server adds each one's routes, and notices and digests find a person's sender here by
`person.channel`. Adding a channel: docs/architecture.md, "Adding a channel".

The terminal chat (`civicbot chat`, bot/channels/terminal) is not here: it is a command that
runs the handlers in a terminal, with no route, no server and nothing it can be sent later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.channels.registration import Channel, Live, Sender
from bot.channels.sms import registered as sms
from bot.channels.telegram import registered as telegram
from bot.channels.webchat import registered as webchat

if TYPE_CHECKING:
    from bot.channels.sms.channel import SmsChannel
    from bot.channels.telegram.bot_api import BotApi
    from bot.runtime.config import Settings
    from bot.runtime.i18n import Catalogues
    from storage.db import Database

# In this order they are started (and say what is off) and stopped.
CHANNELS: tuple[Channel, ...] = (webchat.REGISTRATION, telegram.REGISTRATION, sms.REGISTRATION)


def senders(running: Mapping[str, Live]) -> dict[str, Sender]:
    """The running channels' senders, by the person's channel each reaches."""
    return {name: each for live in running.values() for name, each in live.senders.items()}


def command_senders(
    settings: Settings,
    db: Database,
    catalogues: Catalogues,
    bot: BotApi | None,
    sms_channel: SmsChannel | None,
) -> dict[str, Sender]:
    """Senders for a command that sends on its own, with the channels it opened."""
    found: dict[str, Sender] = {}
    if bot is not None:
        found[telegram.CHANNEL] = telegram.sender_for(bot, db, settings, catalogues)
    if sms_channel is not None:
        found |= sms.sender_for(sms_channel)
    return found
