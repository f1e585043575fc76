"""What each channel is, as the rules need to know it: one table of traits, by the name a
person's or a wish's `channel` column holds.

Storage and the handlers read it (they never import the channels' packages, bot/channels/);
each channel's package names its own row (bot/channels/registry.py). A new channel adds one
row here and one registration there (docs/architecture.md, "Adding a channel").
"""

from __future__ import annotations

from dataclasses import dataclass

TELEGRAM, SMS, WHATSAPP, WEB, CARD = "telegram", "sms", "whatsapp", "web", "card"


@dataclass(frozen=True)
class Traits:
    shows_media: bool  # a resident is offered to add a photo or the place to a wish
    reachable: bool  # messages the bot starts reach it: answers, notices, digests
    paid_per_message: bool  # every message is billed by its segments: answers kept short


TRAITS: dict[str, Traits] = {
    TELEGRAM: Traits(shows_media=True, reachable=True, paid_per_message=False),
    SMS: Traits(shows_media=False, reachable=True, paid_per_message=True),
    # WhatsApp comes through Twilio's SMS webhook: keywords, no segments to pay for.
    WHATSAPP: Traits(shows_media=False, reachable=True, paid_per_message=False),
    # The web chat (and the terminal chat): the bot is heard only while the page is open.
    WEB: Traits(shows_media=False, reachable=False, paid_per_message=False),
    # A paper card typed in by a volunteer: a wish with no one behind it to answer.
    CARD: Traits(shows_media=False, reachable=False, paid_per_message=False),
}


REACHABLE = tuple(name for name, row in TRAITS.items() if row.reachable)
SHOWING = frozenset(name for name, row in TRAITS.items() if row.shows_media)
PAID_PER_MESSAGE = frozenset(name for name, row in TRAITS.items() if row.paid_per_message)
