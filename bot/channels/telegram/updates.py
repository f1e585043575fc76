"""A Telegram update, read from its JSON into what the channel's handlers use and nothing more.

python-telegram-bot's `Update.de_json` built an object for every part of an update (the
user, the chat, each entity, the pressed message and its keyboard): under the bench that was
the largest cost left in taking an update (docs/decisions.md, "Updates read from their
JSON"). Here each field we use is read once and its type checked, so that a malformed update
is refused with ValueError (the webhook's 400) instead of failing later; fields we do not use
are not looked at. Which handler takes the update is decided here too, by the rules PTB's
filters applied (bot/channels/telegram/channel.py `process`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

HandlerName = Literal["command", "text", "button", "pictures", "location", "unsupported"]

# What a message may carry that we do not take (the Bot API's names); the first found names
# it in the logs.
ATTACHMENTS = (
    "animation", "audio", "contact", "dice", "document", "game", "invoice", "location",
    "passport_data", "photo", "paid_media", "poll", "sticker", "story",
    "successful_payment", "venue", "video", "video_note", "voice",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Photo:
    """One size of a photo, or an image sent as a file (its only size)."""

    file_id: str
    width: int
    height: int
    file_size: int | None


@dataclass(frozen=True, slots=True)
class Press:
    """A button pressed: the query to answer, its data, and the message it was under if
    Telegram still gives it (then its keyboard can be taken away)."""

    query_id: str
    data: str
    message_id: int | None


@dataclass(frozen=True, slots=True)
class Received:
    update_id: int
    handler: HandlerName | None  # None: nothing of ours takes it (a group, an edited message)
    chat_id: int = 0  # in a private chat, the person
    language: str | None = None  # the sender's app language, a hint
    text: str | None = None  # a message's text, or a picture's caption
    press: Press | None = None
    photos: tuple[Photo, ...] = ()  # a photo's sizes
    document: Photo | None = None  # an image sent as a file (its width and height 0)
    place: tuple[float, float] | None = None  # latitude, longitude
    attachment: str = "other"  # what an unsupported message carried


def read_update(data: dict[str, Any]) -> Received:
    """The update, or ValueError if what we would use does not have Telegram's shape."""
    update_id = _typed(data, "update_id", int)
    query = _optional(data, "callback_query", dict)
    if query is not None:
        return _read_press(update_id, query)
    message = _optional(data, "message", dict)
    if message is None:  # edited messages, channel posts, …: not asked for (ALLOWED_UPDATES)
        return Received(update_id, None)
    chat = _typed(message, "chat", dict)
    chat_id = _typed(chat, "id", int)
    _typed(message, "date", int)  # unused, but Telegram's always is: a message it is not
    if _typed(chat, "type", str) != "private":
        return Received(update_id, None, chat_id)
    sender = _optional(message, "from", dict)
    language = _optional(sender, "language_code", str) if sender is not None else None
    found = Received(update_id, None, chat_id, language)
    text = _optional(message, "text", str)
    if _starts_with_command(message, text):
        return replace(found, handler="command", text=text)
    if text:
        return replace(found, handler="text", text=text)
    caption = _optional(message, "caption", str)
    photos = tuple(_photo(size) for size in _optional(message, "photo", list) or ())
    document = _image_document(message)
    if photos or document is not None:
        return replace(found, handler="pictures", text=caption, photos=photos, document=document)
    place = _place(message)
    if place is not None:
        return replace(found, handler="location", place=place)
    attachment = next((key for key in ATTACHMENTS if message.get(key)), "other")
    return replace(found, handler="unsupported", attachment=attachment)


def _read_press(update_id: int, query: dict[str, Any]) -> Received:
    sender = _typed(query, "from", dict)
    user_id = _typed(sender, "id", int)
    language = _optional(sender, "language_code", str)
    pressed = _optional(query, "message", dict)
    chat_id, message_id = user_id, None  # in a private chat the chat is the person
    if pressed is not None:
        chat_id = _typed(_typed(pressed, "chat", dict), "id", int)
        # A message too old to be given whole comes with date 0 (InaccessibleMessage).
        if _typed(pressed, "date", int) != 0:
            message_id = _typed(pressed, "message_id", int)
    press = Press(_typed(query, "id", str), _optional(query, "data", str) or "", message_id)
    return Received(update_id, "button", chat_id, language, press=press)


def _starts_with_command(message: dict[str, Any], text: str | None) -> bool:
    entities = _optional(message, "entities", list)
    if not entities:
        return False
    if text is None:
        raise ValueError("malformed update: entities in a text that is not there")
    first = entities[0]
    if not isinstance(first, dict):
        raise ValueError("malformed update: an entity that is not an object")
    return first.get("type") == "bot_command" and first.get("offset") == 0


def _photo(size: object) -> Photo:
    if not isinstance(size, dict):
        raise ValueError("malformed update: a photo size that is not an object")
    return Photo(
        _typed(size, "file_id", str),
        _typed(size, "width", int),
        _typed(size, "height", int),
        _optional(size, "file_size", int),
    )


def _image_document(message: dict[str, Any]) -> Photo | None:
    document = _optional(message, "document", dict)
    if document is None or not (_optional(document, "mime_type", str) or "").startswith("image/"):
        return None
    return Photo(_typed(document, "file_id", str), 0, 0, _optional(document, "file_size", int))


def _place(message: dict[str, Any]) -> tuple[float, float] | None:
    venue = _optional(message, "venue", dict)
    location = _typed(venue, "location", dict) if venue else _optional(message, "location", dict)
    if not location:
        return None
    return (_number(location, "latitude"), _number(location, "longitude"))


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ValueError(f"malformed update: {key} is not {kind.__name__}")
    return value


def _optional(data: dict[str, Any], key: str, kind: type) -> Any:
    return None if data.get(key) is None else _typed(data, key, kind)


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"malformed update: {key} is not a number")
    return float(value)
