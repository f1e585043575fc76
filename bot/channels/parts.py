"""One Telegram message the bot sends on its own (a digest's text, chart or table; a
campaign's summary), as a value: it can be built once and sent to many, or again."""

from __future__ import annotations

from dataclasses import dataclass

from bot.channels.outbox import Call, message


@dataclass(frozen=True)
class Part:
    """A text, a photo (with a caption) or a document (with a caption)."""

    kind: str  # text | photo | document
    text: str = ""  # the message, or a caption
    data: bytes = b""
    filename: str = ""

    def call(self, chat_id: int) -> Call:
        """The Bot API call that sends this part."""
        if self.kind == "text":
            return message(chat_id, self.text)
        if self.kind == "photo":
            return lambda bot: bot.send_photo(
                chat_id, self.data, caption=self.text, filename=self.filename
            )
        return lambda bot: bot.send_document(
            chat_id, self.data, caption=self.text, filename=self.filename
        )
