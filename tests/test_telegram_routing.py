"""Which handler takes which update, on the wire (bot/channels/telegram/updates.py
`read_update`): each shape of update against the answer its handler gives, or none."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.resident import Resident

PLACE = {"latitude": 42.84, "longitude": 74.6}
VENUE = {"location": PLACE, "title": "Мэрия", "address": "Чүй пр., 166"}
PDF = {
    "file_id": "d1",
    "file_unique_id": "d1u",
    "file_name": "a.pdf",
    "mime_type": "application/pdf",
}


def message(resident: Resident, **content: Any) -> dict[str, Any]:
    return {"message": resident._message(**content)}


def in_chat(resident: Resident, kind: str, **content: Any) -> dict[str, Any]:
    body = message(resident, **content)
    body["message"]["chat"] = {"id": -100123, "type": kind, "title": "Аймак"}
    return body


# (what arrives, what the handler it goes to answers: None for no answer at all)
CASES: list[tuple[str, Any, str | None]] = [
    ("a command", lambda r: message(r, text="/help", entities=[command(5)]), "help.text"),
    (
        "a command to us by name",
        lambda r: message(r, text="/help@civic_bot", entities=[command(15)]),
        "help.text",
    ),
    (
        "a command not at the start is text",
        lambda r: message(r, text="a /help", entities=[command(5, 2)]),
        "wish.kind_prompt",
    ),
    ("a place", lambda r: message(r, location=PLACE), "location"),
    ("a venue is its place", lambda r: message(r, venue=VENUE, location=PLACE), "location"),
    ("a file that is no picture", lambda r: message(r, document=PDF), "error.unsupported"),
    ("in a group", lambda r: in_chat(r, "group", text="/help", entities=[command(5)]), None),
    (
        "in a channel",
        lambda r: {"channel_post": in_chat(r, "channel", text="Салам")["message"]},
        None,
    ),
    (
        "an edited message",
        lambda r: {"edited_message": message(r, text="/help")["message"]},
        None,
    ),
]


def command(length: int, offset: int = 0) -> dict[str, Any]:
    return {"type": "bot_command", "offset": offset, "length": length}


@pytest.mark.parametrize(("case", "body", "answer"), CASES, ids=[case[0] for case in CASES])
async def test_each_update_reaches_its_handler_or_none(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, case: str, body: Any, answer: str | None
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9101, "ky")
    await resident.send("/start m-naryn_city")
    await resident.press("Кыргызча")
    replies = await resident._update(body(resident))
    if answer is None:
        assert replies == [], case
    elif answer == "location":  # the same as a plain place
        assert replies == await resident.send_location(**PLACE), case
    else:  # (an unsupported message's answer goes on with a hint)
        assert len(replies) == 1 and replies[0].startswith(say("ky", answer)), case
