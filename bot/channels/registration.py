"""What a channel declares to be one (docs/architecture.md, "Adding a channel"): its routes,
whether the settings turn it on (and what start says when they do not), how it is built and
started, and its senders — how notices and digests reach a person on it. Its traits (guided,
shows media, reachable, paid per message) are its row in storage/channels.py, where the
handlers and storage read them too.

The registrations themselves are listed once, in bot/channels/registry.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.channels.answers import Keyboard
from bot.channels.parts import Part
from handlers.types import DigestOrder, Text

if TYPE_CHECKING:
    from aiohttp import web

    from bot.runtime.served import Served
    from storage.models import DigestDelivery, Person

# Why a notice did not reach its person: the catalogue keys staff read (UNREACHED's {why}).
OPTED_OUT, BLOCKED, CHANNEL_OFF = "unreached.opted_out", "unreached.blocked", "unreached.off"
FAILED = "unreached.failed"


class OptedOut(Exception):
    """The person sent STOP (or the carrier says so): nothing more goes to them."""


@dataclass(frozen=True)
class Outgoing:
    """A notice, for a channel to word and send in the person's language."""

    message: Text
    keyboard: Keyboard = ()  # labelled already; a channel without buttons leaves it
    files: Callable[[], Awaitable[list[Part]]] | None = None  # what follows the text, if shown
    window_open: bool = False  # the resident wrote in the last 24 hours (WhatsApp's window)


class DigestSource(Protocol):
    """What a sender needs of the digests (bot/digests/delivery.py `Digests`)."""

    send_within: float  # seconds one message may take, inside the delivery's claim

    async def parts(self, delivery: DigestDelivery, username: str | None) -> list[Part]:
        """The text, chart and (for staff) table of the delivery's digest."""
        ...

    async def summary(self, delivery: DigestDelivery) -> str:
        """The digest as a short message (two SMS segments at most)."""
        ...

    async def sent(self, delivery: DigestDelivery, messages: int) -> None:
        """So many of the delivery's messages have gone (a retry resumes after them)."""
        ...

    async def paced(self) -> None:
        """Wait for the common broadcast pace."""
        ...


class DigestsOnRequest(Protocol):
    """What /digest needs of the digests, set on the channels once they are built."""

    send_within: float

    async def compose_now(
        self, language: str, order: DigestOrder, username: str | None
    ) -> list[Part]: ...


class Sender(Protocol):
    """How messages the bot starts reach a person on a channel."""

    # Set once the channel can send (Telegram, once connected); None: it always can.
    connected: asyncio.Event | None
    pacer: Broadcast | None  # the pace every broadcast keeps to, if this channel sets one

    async def notify(self, person: Person, outgoing: Outgoing, deadline: float) -> str | None:
        """Send a notice; None once sent, else why it did not reach the person (a key)."""
        ...

    async def send_digest(self, delivery: DigestDelivery, source: DigestSource) -> None:
        """Send a weekly digest, resuming after the messages already sent; raise
        RecipientBlocked, OptedOut, PermanentFailure, or an OSError (StillFailing) to
        retry."""
        ...


class Broadcast(Protocol):
    async def wait(self) -> None: ...


def ready(sender: Sender) -> bool:
    return sender.connected is None or sender.connected.is_set()


class Live(Protocol):
    """A channel turned on."""

    senders: Mapping[str, Sender]  # by the person's channel it reaches

    async def start(self, base_url: str) -> None:
        """Once the web server serves: connect, and say what the operator should know."""
        ...

    async def stop(self) -> None: ...

    def serve_digests(self, digests: DigestsOnRequest) -> None:
        """The digests, for /digest (a channel without it ignores them)."""
        ...


class Channel(Protocol):
    """One registration: bot/channels/registry.py lists them."""

    name: str
    off: str  # printed at start when the settings leave it off ("": nothing said)

    def enabled(self, served: Served) -> bool: ...

    def build(self, served: Served) -> Live:
        """The channel, built (not started) from the running service's parts."""
        ...

    def routes(self, served: Served) -> list[web.RouteDef]:
        """Its endpoints, served whether it is on or off (off: they answer 404)."""
        ...
