"""One message the bot sends on its own (a digest's text, chart or table; a campaign's
summary), as a value: it can be built once and sent to many, or again. How Telegram sends
one: bot/channels/telegram/outbox.py `part_call`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """A text, a photo (with a caption) or a document (with a caption)."""

    kind: str  # text | photo | document
    text: str = ""  # the message, or a caption
    data: bytes = b""
    filename: str = ""
