"""Actions that arrive together: on SQLite they share one group-commit batch
(storage/writer.py), on PostgreSQL each has its own transaction at the same moment. A new
sender's several updates, and a failed action beside a new sender, are handled like any other
(issue 25: one batch once left the session holding a person whose row had been rolled back)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from handlers import dispatch
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound, Outcome
from storage.db import Database
from storage.models import Conversation, Person
from tests.conftest import SECRET_KEY, rows

PSEUDONYMS = Pseudonyms.from_keys((SECRET_KEY,))


def said(chat: str, delivery: str, text: str = "Салам") -> Inbound:
    return Inbound(channel="telegram", user_id=chat, delivery_id=delivery, text=text)


async def at_once(db: Database, *inbounds: Inbound) -> list[Outcome | None]:
    """Every action handed over in one go, as a busy webhook does: on SQLite they wait in
    one queue and share a batch."""
    return list(await asyncio.gather(*(dispatch.handle(db, PSEUDONYMS, i) for i in inbounds)))


async def test_one_new_senders_updates_in_one_batch(db: Database, database_url: str) -> None:
    """The first of them is one whose delivery was handled before (so its new person is
    rolled back); the seven after it are handled, as one person with one conversation."""
    assert await dispatch.handle(db, PSEUDONYMS, said("7000", "u0")) is not None

    first, *rest = await at_once(db, *(said("7001", f"u{n}") for n in range(8)))

    assert first is None
    assert all(outcome is not None and outcome.replies for outcome in rest)
    people = {p.channel_user_id: p.id for p in await rows(database_url, Person)}
    assert sorted(people) == ["7000", "7001"]
    async with db.session() as session:
        conversations = (await session.scalars(select(Conversation.person_id))).all()
    assert sorted(conversations) == sorted(people.values())


async def test_a_new_sender_beside_a_rolled_back_one(db: Database, database_url: str) -> None:
    """A new sender whose update was handled before under another chat (a delivery id seen
    already: nothing of it is kept) rolls back its person; the new sender after it in the
    same batch is handled, and so is a third."""
    assert await dispatch.handle(db, PSEUDONYMS, said("7100", "seen")) is not None

    repeated, first, second = await at_once(
        db, said("7200", "seen"), said("7300", "fresh-1"), said("7400", "fresh-2")
    )

    assert repeated is None
    assert first is not None and first.replies
    assert second is not None and second.replies
    people = sorted(p.channel_user_id for p in await rows(database_url, Person))
    assert people == ["7100", "7300", "7400"]
