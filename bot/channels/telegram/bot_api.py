"""Telegram Bot API calls whose answer nobody reads — an answer's messages, a keyboard taken
away, a button's spinner stopped — sent as one JSON body (the Bot API takes JSON as well as
forms) through PTB's request object, so that PTB reads their status and errors as for any
call, but without PTB's objects for each parameter or for the answer: building those cost
more CPU than sending (docs/decisions.md, "Sent without reading back").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from telegram import Bot
from telegram.request import RequestData

JSON = "application/json"

Keyboard = Sequence[Sequence[tuple[str, str]]]  # rows of (label, payload): answers.Keyboard


# PTB marks RequestData final for its own code's typing; this adds the encoded body only, and
# PTB's `post` hands it on untouched to our request class's `do_request`.
class JsonBody(RequestData):  # type: ignore[misc]
    """A call's parameters, encoded once (bot/channels/telegram/http.py sends it as is)."""

    def __init__(self, parameters: Mapping[str, object]) -> None:
        super().__init__()
        self.body = orjson.dumps(parameters)


async def call(bot: Bot, method: str, **parameters: object) -> None:
    """One Bot API method, parameters that are None left out (as PTB leaves them); PTB's
    errors (RetryAfter, Forbidden, BadRequest, NetworkError, …) if it fails."""
    request = bot.request
    if not getattr(request, "sends_json_body", False):  # PTB's own would send an empty form
        raise TypeError("a Bot made without bot/channels/telegram/http.py telegram_bot")
    given = {name: value for name, value in parameters.items() if value is not None}
    await request.post(f"{bot.base_url}/{method}", request_data=JsonBody(given))


def inline_keyboard(keyboard: Keyboard) -> dict[str, object] | None:
    """Buttons under a message, as the Bot API's InlineKeyboardMarkup; None for none."""
    if not keyboard:
        return None
    rows = [[{"text": label, "callback_data": data} for label, data in row] for row in keyboard]
    return {"inline_keyboard": rows}
