"""Notices are sent at least once: one a crashed worker had claimed is sent once its lease
ends, one a live worker holds is left to it, and one whose send failed is tried again."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select, update

from storage import queries
from storage.db import Database
from storage.models import Notice, Person, utcnow
from storage.queries.notices import LEASE
from tests.conftest import Say, StartBot, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.test_answers import texts_to

WORDS = "Тротуар оңдолду"


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
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            stale = utcnow() - LEASE - dt.timedelta(minutes=1)
            await session.execute(update(Notice).values(claimed_at=stale))
    finally:
        await db.close()


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


async def test_a_notice_a_dead_worker_held_is_not_sent_after_a_newer_one_on_the_same_wish(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    """The worker sending "in progress" dies; "done" goes meanwhile; when the lease ends the
    older notice is superseded, not sent: the resident never reads the status go back."""
    await resident_known(start_bot, telegram, say, 9804)
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            person = await session.scalar(select(Person).where(Person.channel_user_id == "9804"))
            assert person is not None
            for status in ("in_progress", "done"):
                values: dict[str, object] = {
                    "reference": "W-0000042",
                    "status": {"t": f"status.{status}"},
                }
                await queries.add_notice(session, person.id, "answer.notice_bare", values)
            await session.flush()
            older = min((await session.scalars(select(Notice.id))).all())
            await session.execute(  # claimed a minute ago by a worker that then died
                update(Notice)
                .where(Notice.id == older)
                .values(claimed_at=utcnow() - dt.timedelta(minutes=1), attempts=1)
            )
    finally:
        await db.close()
    done = say("ky", "answer.notice_bare", reference="W-0000042", status=say("ky", "status.done"))
    in_progress = say(
        "ky", "answer.notice_bare", reference="W-0000042", status=say("ky", "status.in_progress")
    )

    runtime = await start_bot("webhook")
    assert await texts_to(telegram, 9804, done)
    await expire_claims(database_url)  # the dead worker's lease is over
    assert runtime._notifier is not None
    assert await runtime._notifier.deliver_pending() == 0
    await runtime.stop()

    texts = [c.params.get("text") for c in telegram.delivered_to(9804)]
    assert in_progress not in texts and texts.count(done) == 1
    assert all(notice.sent_at is not None for notice in await rows(database_url, Notice))
