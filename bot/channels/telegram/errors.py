"""What a failed Bot API call raises: the Bot API's answer read as python-telegram-bot's
BaseRequest reads it (the same names and the same order of checks), so that the outbox's
verdicts (bot/channels/telegram/outbox.py) mean what they meant with PTB.

An error's answer is `{"ok": false, "error_code": …, "description": …, "parameters": …}`
(https://core.telegram.org/bots/api#making-requests); the HTTP status decides the kind, and
`parameters` may ask to wait (retry_after) or name the group's new chat (migrate_to_chat_id).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class TelegramError(Exception):
    """Any failed call; `message` is Telegram's description without its "Bad Request: "."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        plain = message.removeprefix("Error: ").removeprefix("[Error]: ")
        plain = plain.removeprefix("Bad Request: ")
        self.message = plain if plain == message else plain.capitalize()

    def __str__(self) -> str:
        return self.message


class NetworkError(TelegramError):
    """The call may not have reached Telegram, or Telegram failed it: worth trying again."""


class TimedOut(NetworkError):
    """No answer in time: the call may or may not have been made."""


class BadRequest(NetworkError):  # a NetworkError, as in PTB: verdicts test it first
    """Telegram refused the call as it was (a 400): sending it again would not help."""


class Forbidden(TelegramError):
    """The bot may not write to the chat (a 403): the person blocked it."""


class InvalidToken(TelegramError):
    """The token is not a bot's (401), or the method not the Bot API's (404)."""


class Conflict(TelegramError):
    """Another getUpdates, or a webhook set, for the same bot (409)."""


class RetryAfter(TelegramError):
    """Over Telegram's limits: wait `retry_after` seconds before the next call (a 429)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Flood control exceeded. Retry in {retry_after} seconds")
        self.retry_after = float(retry_after)


class ChatMigrated(TelegramError):
    """The group became a supergroup with a new chat id."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"Group migrated to supergroup. New chat id: {new_chat_id}")
        self.new_chat_id = new_chat_id


def failure(status: int, answer: dict[str, Any] | None) -> TelegramError:
    """The error for a call that did not succeed: its HTTP status and its answer (None if
    the body was not JSON)."""
    try:
        message = f"{HTTPStatus(status).phrase} ({status})"
    except ValueError:
        message = f"Unknown HTTPError ({status})"
    if answer is None:
        message += ". The server's response could not be read"
    else:
        message = str(answer.get("description") or message)
        parameters = answer.get("parameters")
        if isinstance(parameters, dict):
            if parameters.get("migrate_to_chat_id"):
                return ChatMigrated(int(parameters["migrate_to_chat_id"]))
            if parameters.get("retry_after"):
                return RetryAfter(float(parameters["retry_after"]))
    kind = _BY_STATUS.get(status, NetworkError)
    return kind(message)


_BY_STATUS: dict[int, type[TelegramError]] = {
    HTTPStatus.FORBIDDEN: Forbidden,
    HTTPStatus.UNAUTHORIZED: InvalidToken,
    HTTPStatus.NOT_FOUND: InvalidToken,
    HTTPStatus.BAD_REQUEST: BadRequest,
    HTTPStatus.CONFLICT: Conflict,
}
