"""How an update's JSON is read (bot/channels/telegram/updates.py): what each shape gives the
handlers, and every field we use refused when it has the wrong type — a 400 on the wire,
never a 500 later."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.channels.telegram.updates import Photo, Press, Received, read_update
from tests.conftest import StartBot
from tests.test_outages import post_update

USER = {"id": 42, "is_bot": False, "first_name": "Айгүл", "language_code": "ru"}
CHAT = {"id": 42, "type": "private", "first_name": "Айгүл"}


def message(**content: Any) -> dict[str, Any]:
    body = {"message_id": 7, "date": 1_764_000_000, "chat": CHAT, "from": USER, **content}
    return {"update_id": 1, "message": body}


def press(**changes: Any) -> dict[str, Any]:
    query = {"id": "q1", "from": USER, "chat_instance": "c", "data": "n1:ky"}
    return {"update_id": 1, "callback_query": {**query, "message": OLD, **changes}}


COMMAND = [{"type": "bot_command", "offset": 0, "length": 5}]
SIZE = {"file_id": "p1", "file_unique_id": "u1", "width": 1280, "height": 960, "file_size": 9}
PNG = {"file_id": "d1", "file_unique_id": "u2", "mime_type": "image/png", "file_size": 5}
PLACE = {"latitude": 42.87, "longitude": 74.59}
OLD = {"message_id": 9, "date": 1_764_000_000, "chat": CHAT, "text": "?"}  # a pressed message

# (what arrives, what the handlers get)
READ: list[tuple[str, dict[str, Any], Received]] = [
    ("a command", message(text="/help me", entities=COMMAND),
     Received(1, "command", 42, "ru", text="/help me")),
    ("text", message(text="Жарык жок"), Received(1, "text", 42, "ru", text="Жарык жок")),
    ("a press", press(), Received(1, "button", 42, "ru", press=Press("q1", "n1:ky", 9))),
    ("a press under a message too old to be given", press(message={**OLD, "date": 0}),
     Received(1, "button", 42, "ru", press=Press("q1", "n1:ky", None))),
    ("a press without its message: the chat is the person", press(message=None),
     Received(1, "button", 42, "ru", press=Press("q1", "n1:ky", None))),
    ("a photo with its caption", message(photo=[SIZE], caption="Чуңкур"),
     Received(1, "pictures", 42, "ru", text="Чуңкур", photos=(Photo("p1", 1280, 960, 9),))),
    ("an image sent as a file", message(document=PNG),
     Received(1, "pictures", 42, "ru", document=Photo("d1", 0, 0, 5))),
    ("a place", message(location=PLACE), Received(1, "location", 42, "ru", place=(42.87, 74.59))),
    ("a venue", message(venue={"location": PLACE, "title": "Мэрия", "address": "Чүй"}),
     Received(1, "location", 42, "ru", place=(42.87, 74.59))),
    ("a voice note", message(voice={"file_id": "v", "file_unique_id": "v", "duration": 2}),
     Received(1, "unsupported", 42, "ru", attachment="voice")),
    ("no language", message(text="Салам", **{"from": {**USER, "language_code": None}}),
     Received(1, "text", 42, None, text="Салам")),
    ("a group's message", message(text="/help", entities=COMMAND, chat={"id": -5, "type": "group"}),
     Received(1, None, -5)),
    ("an edited message", {"update_id": 1, "edited_message": message(text="x")["message"]},
     Received(1, None)),
]  # fmt: skip

REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("no update id", {"message": message(text="x")["message"]}),
    ("an update id that is text", {**message(text="x"), "update_id": "1"}),
    ("a chat id that is text", message(text="x", chat={**CHAT, "id": "42"})),
    ("a chat id that is true", message(text="x", chat={**CHAT, "id": True})),
    ("a message without its chat", message(text="x", chat=None)),
    ("a text that is a number", message(text=5)),
    ("a date past the end of time", message(text="x", date=1e300)),
    ("entities with no text", message(entities=COMMAND)),
    ("an entity that is text", message(text="/help", entities=["bot_command"])),
    ("a photo size that is text", message(photo=["p1"])),
    ("a photo's width that is text", message(photo=[{**SIZE, "width": "1280"}])),
    ("a latitude that is text", message(location={**PLACE, "latitude": "42.87"})),
    ("a venue without its place", message(venue={"title": "Мэрия"})),
    ("a press without its sender", press(**{"from": None})),
    ("a sender's id that is text", press(**{"from": {**USER, "id": "42"}})),
    ("button data that is a number", press(data=5)),
    ("a pressed message's chat that is a list", press(message={**OLD, "chat": []})),
    ("a language that is a number", message(text="x", **{"from": {**USER, "language_code": 7}})),
]  # fmt: skip


@pytest.mark.parametrize(("case", "update", "received"), READ, ids=[c[0] for c in READ])
def test_each_shape_is_read_into_what_the_handlers_take(
    case: str, update: dict[str, Any], received: Received
) -> None:
    assert read_update(copy.deepcopy(update)) == received, case


@pytest.mark.parametrize(("case", "update"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_field_we_use_of_the_wrong_type_is_refused(case: str, update: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="malformed update"):
        read_update(update)


async def test_refused_updates_are_a_400_on_the_wire(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook")
    for case, update in REFUSED:
        assert await post_update(runtime, update) == 400, case
    for number, (case, update, _) in enumerate(READ, start=100):
        assert await post_update(runtime, {**update, "update_id": number}) == 200, case
