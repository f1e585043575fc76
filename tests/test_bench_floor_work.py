"""bench/targets/floor_work.py's statements still fit our schema, and do our work: a resident
walked through the bench's wish flow on a migrated database of either kind leaves what ours
leaves (the person settled, the wish in its place, a delivery row a step), and a redelivery
changes nothing. Without this a migration could break the bench's reference unnoticed."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.ingest import STEPS, button_update, message_update
from bench.targets.floor_work import Answer, Redelivered, handle, open_store
from storage.db import Database
from storage.models import Conversation, InboundDelivery, Municipality, Person, Wish
from tests.conftest import rows

CHAT = 4242


def shown(answer: Answer) -> dict[str, Any] | None:
    """The answer as the resident's chat shows it, for the next press."""
    if not answer.buttons:
        return None
    keyboard = [[{"text": data, "callback_data": data}] for data in answer.buttons]
    return {"text": answer.text, "reply_markup": {"inline_keyboard": keyboard}}


async def scalar(database_url: str, statement: Any) -> Any:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return await session.scalar(statement)
    finally:
        await db.close()


async def test_a_resident_through_the_flow_leaves_what_ours_leaves(database_url: str) -> None:
    store = await open_store(database_url, connections=2)
    last: dict[str, Any] | None = None
    answers: list[Answer] = []
    try:
        for kind, text in STEPS:
            update = message_update(CHAT, text) if kind == "text" else button_update(CHAT, last)
            answer = await store.run(partial(handle, update=update))
            answers.append(answer)
            last = shown(answer) or last
        with pytest.raises(Redelivered):  # the wish's update again: nothing of it kept twice
            await store.run(partial(handle, update=update))
    finally:
        await store.close()

    assert [bool(a.buttons) for a in answers] == [True, False, True, False, False]
    assert [a.press is not None for a in answers] == [False, True, False, True, False]
    (person,) = await rows(database_url, Person)
    (place,) = [m for m in await rows(database_url, Municipality) if m.key == "tokmok"]
    assert (person.channel_user_id, person.language_confirmed) == (str(CHAT), True)
    assert person.municipality_id == place.id
    (wish,) = await rows(database_url, Wish)
    assert (wish.text, wish.category, wish.municipality_id) == (STEPS[-1][1], "roads", place.id)
    assert wish.person_id == person.id and answers[-1].text.endswith(wish.reference)
    assert await scalar(database_url, select(Conversation.step)) is None
    assert await scalar(database_url, select(func.count(Conversation.person_id))) == 1
    assert await scalar(database_url, select(func.count(InboundDelivery.delivery_key))) == len(
        STEPS
    )
