"""A closed poll's results on the real wire: the server's scheduled job finds the resident
who answered by their key and the notice reaches them on Telegram, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from handlers import ballots, poll_outcome
from storage import queries
from storage.db import Database
from storage.models import Notice, Person, utcnow
from tests.conftest import Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram

CHAT = 9901


async def notices_left(database_url: str, person_id: int) -> list[str]:
    """The results notices still kept for the person, once the sender has settled them
    (it settles just after the message goes: looked at again a bounded number of times).
    One statement a look: read apart, the keys and the claim could straddle the delete."""
    db = Database(database_url)
    try:
        for _ in range(100):
            async with db.session() as session:
                rows = (
                    await session.execute(
                        select(Notice.key, Notice.sent_at, Notice.attempts).where(
                            Notice.person_id == person_id,
                            Notice.key.in_(poll_outcome.FORGOTTEN_ONCE_SENT),
                        )
                    )
                ).all()
            if not any(sent_at is None and attempts > 0 for _, sent_at, attempts in rows):
                return [key for key, _, _ in rows]
            await asyncio.sleep(0.05)  # one in the sender's hands: let it settle
        return [key for key, _, _ in rows]
    finally:
        await db.close()


async def test_the_results_reach_who_answered_on_telegram_once(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    await resident_of(runtime, telegram, "webhook", CHAT, "ru").send("/start m-naryn_city")
    await resident_of(runtime, telegram, "webhook", CHAT + 1, "ru").send("/start m-naryn_city")
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            person = await session.scalar(select(Person).where(Person.channel_user_id == str(CHAT)))
            assert person is not None and person.municipality_id is not None
            language, person_id = person.language, person.id
            poll = await queries.add_poll(
                session, person.municipality_id, {"ky": "Кайсы жол?", "ru": "Какую дорогу?"},
                [{"label_ky": "Базар"}, {"label_ky": "Мектеп"}], utcnow() - timedelta(minutes=1),
                status="closed", opens_at=utcnow() - timedelta(days=3),
            )  # fmt: skip
            key = ballots.voter_key(runtime.pseudonyms, poll.id, person.id)
            await queries.record_answer(
                session, poll.id, key, [2], utcnow().date(), channel="telegram"
            )
            for n in range(3):
                await queries.record_answer(
                    session, poll.id, f"o{n}", [1], utcnow().date(), channel="sms"
                )
    finally:
        await db.close()
    question = "Какую дорогу?" if language == "ru" else "Кайсы жол?"
    told = say(
        language,
        "poll_results.final",
        code=poll.code,
        question=question,
        total=4,
        percent=75,
        label="Базар",
    )

    assert runtime.jobs is not None
    await runtime.jobs.poll_results()
    await telegram.wait_for_sends(
        lambda: told in [c.params.get("text") for c in telegram.delivered_to(CHAT)]
    )
    await runtime.jobs.poll_results()  # again: nothing more
    assert runtime._notifier is not None
    await runtime._notifier.deliver_pending()
    assert [c.params.get("text") for c in telegram.delivered_to(CHAT)].count(told) == 1
    # Once sent, the notice is deleted: no row is left that says who answered the poll.
    assert await notices_left(database_url, person_id) == []
    # The neighbour who did not answer hears nothing of it.
    assert not any(poll.code in str(c.params.get("text")) for c in telegram.delivered_to(CHAT + 1))
