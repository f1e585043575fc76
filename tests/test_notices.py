"""Notices are sent at least once: one a crashed worker had claimed is sent once its lease
ends, one a live worker holds is left to it, and one whose send failed is tried again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import notices
from storage import queries
from storage.db import Database
from storage.models import Notice, Person, utcnow
from storage.queries.notices import LEASE
from tests.conftest import Say, StartBot, execute, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.test_answers import texts_to

WORDS = "Тротуар оңдолду"


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender looks for notices freed elsewhere (here, by the test) every 0.2 s, not 2."""
    monkeypatch.setattr(notices, "INTERVAL", 0.2)


async def held(database_url: str, chat_id: int, claimed_at: dt.datetime) -> None:
    """A notice for the chat, claimed at `claimed_at` by a worker that never sent it."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            person = await session.scalar(
                select(Person).where(Person.channel_user_id == str(chat_id))
            )
            assert person is not None
            values: dict[str, object] = {"place": "Нарын", "topic": "Жолдор", "text": WORDS}
            await queries.add_notice(session, person.id, "announce.notice", values)
            await session.flush()
            await session.execute(update(Notice).values(claimed_at=claimed_at, attempts=1))
    finally:
        await db.close()


async def resident_known(start_bot: StartBot, telegram: FakeTelegram, say: Say, chat: int) -> str:
    """A resident of Naryn on Telegram, the bot stopped again; the notice they will get."""
    runtime = await start_bot("webhook")
    await resident_of(runtime, telegram, "webhook", chat, "ky").send("/start m-naryn_city")
    await runtime.stop()
    return say("ky", "announce.notice", place="Нарын", topic="Жолдор", text=WORDS)


async def expire_claims(database_url: str) -> None:
    stale = utcnow() - LEASE - dt.timedelta(minutes=1)
    await execute(database_url, update(Notice).values(claimed_at=stale))


async def test_a_notice_a_dead_worker_held_is_sent_after_its_lease_and_a_live_claim_is_not_taken(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    told = await resident_known(start_bot, telegram, say, 9801)

    # Claimed a minute ago by another worker, alive and sending: left to it.
    await held(database_url, 9801, utcnow() - dt.timedelta(minutes=1))
    second = await start_bot("webhook")
    assert second._notifier is not None
    assert await second._notifier.deliver_pending() == 0
    assert not [c for c in telegram.delivered_to(9801) if c.params.get("text") == told]

    # Its lease long over (the worker died between the claim and the send): sent, once.
    await expire_claims(database_url)
    assert await texts_to(telegram, 9801, told)
    await second.stop()
    [notice] = await rows(database_url, Notice)
    assert notice.sent_at is not None and notice.attempts == 2
    assert [c.params.get("text") for c in telegram.delivered_to(9801)].count(told) == 1


async def test_a_notice_whose_send_failed_is_held_then_tried_again(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    told = await resident_known(start_bot, telegram, say, 9802)
    await held(database_url, 9802, utcnow() - LEASE - dt.timedelta(minutes=1))
    telegram.failures["sendMessage"] = 1000  # Telegram has a long bad moment
    again = await start_bot("webhook")
    assert again.telegram is not None
    again.telegram.outbox.network_backoff = (0.05, 0.05)  # give up on it quickly
    for _ in range(200):  # bounded: ten seconds
        [notice] = await rows(database_url, Notice)
        if notice.attempts == 2 and len(telegram.called("sendMessage")) >= 3:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the send gives up, and the notice is not settled
    [notice] = await rows(database_url, Notice)
    assert notice.sent_at is None and notice.attempts == 2  # held until its lease ends
    # Telegram is back; the lease ends: sent.
    telegram.failures.clear()
    await expire_claims(database_url)
    assert told in await texts_to(telegram, 9802, told)
    await again.stop()


async def test_a_notice_that_comes_free_after_a_newer_one_on_the_same_wish_went_is_superseded(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    """ "In progress" was claimed by a worker that died, and its lease has run out; "done"
    has reached the resident meanwhile (a worker whose clock ran ahead took the claim for a
    dead one's). The older notice is superseded, not sent: the status never goes back."""
    await resident_known(start_bot, telegram, say, 9804)
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            person = await session.scalar(select(Person).where(Person.channel_user_id == "9804"))
            assert person is not None
            for status in ("in_progress", "done"):
                values: dict[str, object] = {
                    "reference": "0000042",
                    "status": {"t": f"status.{status}"},
                }
                await queries.add_notice(session, person.id, "answer.notice_bare", values)
            await session.flush()
            older, newer = (await session.scalars(select(Notice.id).order_by(Notice.id))).all()
            stale = utcnow() - LEASE - dt.timedelta(minutes=1)
            await session.execute(
                update(Notice).where(Notice.id == older).values(claimed_at=stale, attempts=1)
            )
            await session.execute(
                update(Notice).where(Notice.id == newer).values(sent_at=utcnow(), attempts=1)
            )
    finally:
        await db.close()
    in_progress = say(
        "ky", "answer.notice_bare", reference="0000042", status=say("ky", "status.in_progress")
    )

    runtime = await start_bot("webhook")
    assert runtime._notifier is not None
    assert await runtime._notifier.deliver_pending() == 0
    await runtime.stop()

    assert in_progress not in [c.params.get("text") for c in telegram.delivered_to(9804)]
    assert all(notice.sent_at is not None for notice in await rows(database_url, Notice))


async def test_a_newer_notice_on_a_wish_waits_while_an_older_one_is_being_sent(
    database_url: str,
) -> None:
    """Two workers, one notice each about the same wish: the newer is not claimed while the
    older is held by a live claim (a 429 could otherwise let "in progress" land after
    "done"); it is once the older is settled, or once the older's worker is long dead. A
    notice about another wish, or with no wish, is not held back."""
    from bot.runtime.config import Settings
    from bot.runtime.database import prepare_database
    from tests.conftest import SECRET_KEY

    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    try:
        async with db.session() as session, session.begin():
            person, _ = await queries.ensure_person(session, "telegram", "9805", "ky")
            subjects: list[dict[str, object]] = [
                {"reference": "0000042", "status": {"t": "status.in_progress"}},
                {"reference": "0000042", "status": {"t": "status.done"}},
                {"reference": "0000043", "status": {"t": "status.done"}},
                {"place": "Нарын", "topic": "Жолдор", "text": WORDS},
            ]
            for values in subjects:
                await queries.add_notice(session, person.id, "answer.notice_bare", values)
        async with db.session() as session:
            older, newer, other, bare = (await session.scalars(select(Notice.id))).all()

        async def claim(notice_id: int, at: dt.datetime) -> bool:
            async with db.session() as session, session.begin():
                return await queries.claim_notice(session, notice_id, at) is not None

        now = utcnow()
        assert await claim(older, now)  # one worker is sending it
        assert not await claim(newer, now)  # the other must wait
        assert await claim(other, now) and await claim(bare, now)
        async with db.session() as session, session.begin():
            await queries.settle_notice(session, older, now)
        assert await claim(newer, now)

        # A dead worker's claim holds a newer notice back only until its lease ends.
        async with db.session() as session, session.begin():
            for values in subjects[:2]:
                later = {**values, "reference": "0000044"}
                await queries.add_notice(session, person.id, "answer.notice_bare", later)
        async with db.session() as session:
            dead, waiting = (await session.scalars(select(Notice.id).order_by(Notice.id))).all()[
                -2:
            ]
        assert await claim(dead, now)
        assert not await claim(waiting, now + LEASE - dt.timedelta(minutes=1))
        assert await claim(waiting, now + LEASE + dt.timedelta(minutes=1))
    finally:
        await db.close()


async def test_two_workers_claiming_two_notices_on_one_wish_at_once_take_turns(
    database_url: str,
) -> None:
    """The older is being claimed by one worker, not yet committed, when another claims the
    newer: the second waits for the first, then sees its claim and leaves the newer alone."""
    from bot.runtime.config import Settings
    from bot.runtime.database import prepare_database
    from tests.conftest import SECRET_KEY

    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    try:
        async with db.session() as session, session.begin():
            person, _ = await queries.ensure_person(session, "telegram", "9806", "ky")
            for status in ("in_progress", "done"):
                values: dict[str, object] = {"reference": "0000045", "status": {"t": status}}
                await queries.add_notice(session, person.id, "answer.notice_bare", values)
        async with db.session() as session:
            older, newer = (await session.scalars(select(Notice.id).order_by(Notice.id))).all()

        async def claim_newer() -> bool:
            async with db.session() as session, session.begin():
                return await queries.claim_notice(session, newer, utcnow()) is not None

        async with db.session() as first, first.begin():
            assert await queries.claim_notice(first, older, utcnow()) is not None
            second = asyncio.create_task(claim_newer())
            await asyncio.sleep(0.5)
            assert not second.done()  # waiting for the first worker's claim to commit
        assert await second is False
    finally:
        await db.close()


async def test_the_sender_is_woken_once_a_notice_is_visible_and_not_before(
    database_url: str,
) -> None:
    """An inbound action's transaction wakes this process's sender when it adds a notice —
    after its commit, when another connection can read the notice. (On SQLite each action is
    a SAVEPOINT inside the group commit, storage/writer.py; SQLAlchemy reports its release as
    a commit too, while nothing is visible yet.)"""
    db = Database(database_url)
    seen: list[int] = []

    async def watch() -> None:
        await db.notice_committed.wait()
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":  # read at once, before the loop moves on
            with contextlib.closing(sqlite3.connect(str(url.database))) as reader:
                seen.append(reader.execute("SELECT count(*) FROM notices").fetchone()[0])
        else:
            seen.append(len(await rows(database_url, Notice)))

    async def work(session: AsyncSession) -> None:
        person, _ = await queries.ensure_person(session, "telegram", "9809", "ky")
        await session.flush()
        await queries.add_notice(session, person.id, "announce.notice", {"text": WORDS})

    try:
        watcher = asyncio.ensure_future(watch())
        await asyncio.sleep(0)
        await db.write(work)
        await asyncio.wait_for(watcher, 5)
        assert seen == [1]
        # A transaction without a notice wakes no one.
        db.notice_committed.clear()
        await db.write(lambda session: queries.ensure_person(session, "telegram", "9810", "ky"))
        assert not db.notice_committed.is_set()
    finally:
        await db.close()
