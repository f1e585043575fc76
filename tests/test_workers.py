"""Several `civicbot serve` workers on one PostgreSQL behave as one: they start together on an
empty database (one migrates, the other waits), a new sender's first messages reaching both
at once are both handled, and one chat's updates never interleave."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.channels.telegram import channel as bot_telegram
from bot.runtime.app import Runtime
from storage.db import Database
from storage.domain import facts
from storage.models import Municipality, Person, Wish
from storage.place_list import shipped
from tests.conftest import StartBotOn
from tests.fake_telegram import FakeTelegram
from tests.resident import Resident, polling_delivery, webhook_delivery
from tests.test_outages import post_update
from tests.twilio import inbound_form, post_signed, twilio_settings

PAIRS = 10
# What every worker does first: migrate, then seed the starter places (bot.runtime.database).
PREPARE = (
    "import asyncio, sys; from bot.runtime.database import prepare_database;"
    "from bot.runtime.config import Settings;"
    "db = asyncio.run(prepare_database(Settings(database_url=sys.argv[1], secret_key='x' * 32)));"
    "asyncio.run(db.close())"
)


async def counts(database_url: str, channel: str, user_id: str) -> tuple[int, int]:
    """(people, wishes) for one sender."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            people = await session.scalar(
                select(func.count(Person.id)).where(
                    Person.channel == channel, Person.channel_user_id == user_id
                )
            )
            wishes = await session.scalar(
                select(func.count(Wish.id))
                .join(Person, Person.id == Wish.person_id)
                .where(Person.channel == channel, Person.channel_user_id == user_id)
            )
            return int(people or 0), int(wishes or 0)
    finally:
        await db.close()


async def test_processes_prepare_an_empty_database_at_once(postgres_url: str) -> None:
    """Migrations and the seeded places under one lock: no start fails on the other's rows."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PREPARE,
            postgres_url,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(6)
    ]
    results = await asyncio.gather(*(p.communicate() for p in processes))
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr.decode()[-2000:]
    db = Database(postgres_url)
    try:
        async with db.session() as session:
            assert await session.scalar(select(func.count(Person.id))) == 0  # the schema is there
            places = await session.scalar(select(func.count(Municipality.id)))
            starters = {entry["key"] for entry in facts()["municipalities"]}
            shipped_keys = {u.key for u in shipped("town") + shipped("aimak")}
            assert places == len(starters | shipped_keys)  # seeded once
    finally:
        await db.close()


async def test_two_workers_on_one_postgresql(
    start_bot_on: StartBotOn, telegram: FakeTelegram, postgres_url: str
) -> None:
    # Both start at once on an empty database: migrations must not collide.
    first, second = await asyncio.gather(
        start_bot_on(postgres_url, **twilio_settings()),
        start_bot_on(postgres_url, **twilio_settings()),
    )

    # A new phone's first two messages, one to each worker, at the same moment.
    for pair in range(PAIRS):
        number = f"+99655530{pair:04d}"
        answers = await asyncio.gather(
            *(
                post_signed(worker.base_url, "/sms/twilio", inbound_form(number, body))
                for worker, body in (
                    (first, f"ӨЗГӨРТ Суу жок {pair}"),
                    (second, f"МЫКТЫ Жаңы жол {pair}"),
                )
            )
        )
        assert [status for status, _ in answers] == [200, 200]
        assert all("<Message>" in answer for _, answer in answers)
        assert await counts(postgres_url, "sms", number) == (1, 2)

    # A new Telegram chat's first updates, likewise.
    for pair in range(PAIRS):
        chat = 8100 + pair
        resident = Resident(telegram, webhook_delivery(first.base_url, "", telegram), chat, "ru")
        updates = [resident.text_update("/start m-tokmok"), resident.text_update("/help")]
        statuses = await asyncio.gather(
            post_update(first, updates[0]), post_update(second, updates[1])
        )
        assert statuses == [200, 200]
        assert (await counts(postgres_url, "telegram", str(chat)))[0] == 1
        assert len(resident.sent_messages()) >= 2  # both were answered


async def test_one_chats_updates_on_two_workers_take_turns(
    start_bot_on: StartBotOn, telegram: FakeTelegram, postgres_url: str, say: Any
) -> None:
    """Two steps of one flow reaching two workers at once: the conversation row is locked,
    so the second waits for the first and sees its state (no lost step, no stale read)."""
    first = await start_bot_on(postgres_url)
    second = await start_bot_on(postgres_url)
    resident = Resident(telegram, webhook_delivery(first.base_url, "", telegram), 8200, "ky")
    await post_update(first, resident.text_update("/start m-tokmok"))
    await post_update(first, resident.text_update("/change"))
    # Every text while the category is asked is kept as the wish's text, once: the second
    # one is told a text is already kept, which only a turn-taking pair can see.
    texts: list[dict[str, Any]] = [
        resident.text_update("Биринчи текст"),
        resident.text_update("Экинчи текст"),
    ]
    statuses = await asyncio.gather(post_update(first, texts[0]), post_update(second, texts[1]))
    assert statuses == [200, 200]
    answers = [m["text"] for m in resident.sent_messages()[-2:]]
    kept, already = say("ky", "wish.text_kept"), say("ky", "error.use_buttons")
    assert sum(kept in a for a in answers) == 1
    assert sum(already in a for a in answers) == 1


async def test_only_one_worker_long_polls_and_another_takes_over(
    start_bot_on: StartBotOn,
    telegram: FakeTelegram,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot_telegram, "LEADER_RETRY", 0.2)
    first = await start_bot_on(postgres_url, "polling")
    second = await start_bot_on(postgres_url, "polling")
    workers = [first, second]

    def pollers() -> list[Runtime]:
        return [w for w in workers if w.telegram is not None and w.telegram.polling]

    await eventually(lambda: len(pollers()) == 1)
    await asyncio.sleep(0.5)  # and it stays one
    (leader,) = pollers()
    resident = Resident(telegram, polling_delivery(telegram), 8300, "ky")
    assert await resident.send("/help")

    await leader.stop()  # the polling worker goes away: the other takes over
    workers.remove(leader)
    await eventually(lambda: len(pollers()) == 1)
    assert await resident.send("/help")


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")
