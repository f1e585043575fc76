"""A poll's closing question follows the answer; it is not part of it. The webhook says 200
once the answer is committed and the press answered (the toast), without waiting for the
closing question, a chat message held to Telegram's ~30 a second; the question goes after,
through the chat's queue in the outbox at the broadcast pace, in order before anything
answered later in that chat, and is never lost to a 429. At the conversation level (which
replies follow) and on the wire (the fake Bot API), both databases."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.channels import answers
from bot.channels.telegram import channel
from bot.runtime.i18n import Catalogues
from storage.db import Database
from storage.models import InboundDelivery, OutboundMessage, Person, PollAnswer
from tests.conftest import Say, StartBot, resident_of, rows
from tests.conversation import World
from tests.fake_telegram import FakeTelegram
from tests.test_outbox_limits import given_up_count
from tests.test_polls_answer import fresh_place, open_poll, placed
from tests.test_polls_answer_toast import delivered, followed, naryn_poll

HANG_GUARD = 30.0  # seconds: a webhook that waited for the held question would hang


async def deliveries(database_url: str) -> int:
    """Updates handled and committed so far."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(InboundDelivery)) or 0)
    finally:
        await db.close()


async def committed(database_url: str, handled: int) -> None:
    """Wait until more updates than `handled` are committed (by the server's connection:
    nothing here is told of it), for at most HANG_GUARD."""
    for _ in range(int(HANG_GUARD / 0.05)):
        if await deliveries(database_url) > handled:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the update was never handled")


async def test_the_closing_question_follows_a_first_answer_only(
    world: World, say: Say, catalogues: Catalogues
) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place)

    await resident.press_data(f"poll:{poll.code}:1")
    assert resident.outcome is not None
    thanks, question = resident.outcome.replies
    assert (thanks.toast, thanks.follow_up, question.follow_up) == (True, False, True)
    pressed = answers.render(catalogues, resident.outcome, pressed=True)
    assert pressed.answering == () and pressed.follow_ups == 1
    assert [text for text, _ in pressed.following] == [say("en", "poll.ask_age")]
    # Where every message shows at once (the web chat, a redelivery kept), it is still there.
    kept = answers.Answer.from_json(pressed.to_json())
    assert kept.following == pressed.following

    # The question's own answer is the answer to that press: waited for, as any.
    await resident.press(say("en", "poll.age_30_44"))
    assert not any(reply.follow_up for reply in resident.outcome.replies)
    # A changed answer is a toast alone.
    await resident.press_data(f"poll:{poll.code}:2")
    assert [r.follow_up for r in resident.outcome.replies] == [False]

    # Typed on Telegram, the thanks is a message that answers; the question still follows.
    other = await open_poll(world, place)
    typed = await placed(world, "telegram", place, language="en")
    await typed.send(f"/polls {other.code} 1")
    assert typed.outcome is not None
    rendered = answers.render(catalogues, typed.outcome)
    assert [text for text, _ in rendered.answering] == [
        say("en", "poll.thanks", code=other.code, choices="1. Жол (en)")
    ]
    assert [text for text, _ in rendered.following] == [say("en", "poll.ask_age")]


async def test_the_webhook_does_not_wait_for_the_closing_question_and_it_is_not_lost(
    start_bot: StartBot,
    telegram: FakeTelegram,
    say: Say,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = await naryn_poll(database_url)
    # A webhook waits for its answer as long as it takes: one that waited for the held
    # question would hang (HANG_GUARD), not return after ANSWER_WAIT as if nothing were wrong.
    monkeypatch.setattr(channel, "ANSWER_WAIT", 3600.0)
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9911, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    await resident.send("/polls")
    before = len(delivered(telegram, resident))

    telegram.throttle(resident.user_id, retry_after=1, seconds=3600)  # every message: 429
    async with asyncio.timeout(HANG_GUARD):
        await resident.press("2. Water")
    assert len(delivered(telegram, resident)) == before  # the 200 came with the question held
    assert telegram.toasts() == [say("en", "poll.thanks", code=code, choices="2. Water")]
    assert [(a.choices, a.channel) for a in await rows(database_url, PollAnswer)] == [
        ("2", "telegram")
    ]

    # Something typed meanwhile is answered after the question, in the chat's order.
    handled = await deliveries(database_url)
    typed = asyncio.create_task(resident.send("/help"))
    await committed(database_url, handled)
    assert not typed.done()  # its answer waits behind the held question
    del telegram.throttled[resident.user_id]  # the limit ends
    async with asyncio.timeout(HANG_GUARD):
        await typed
    assert await followed(telegram, resident, before) == say("en", "poll.ask_age")
    # The question once (however many 429s), then /help's answer: its text, and the
    # question standing, asked again.
    question, help_text, again = delivered(telegram, resident)[before:]
    assert question == again == say("en", "poll.ask_age") != help_text
    assert telegram.too_many >= 1  # it did meet the limit


async def test_closing_questions_under_the_broadcast_limit_all_arrive(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    code = await naryn_poll(database_url)
    runtime = await start_bot("webhook")
    people = [resident_of(runtime, telegram, "webhook", 9920 + n, "en") for n in range(8)]
    for person in people:
        await person.send("/start m-naryn_city")
        await person.press("English")
        await person.send("/polls")
    counts = [len(delivered(telegram, person)) for person in people]

    telegram.rate_limit = 2  # a second, all chats together: most first tries are refused
    async with asyncio.timeout(HANG_GUARD):
        await asyncio.gather(*(p.press_data(f"poll:{code}:1") for p in people))
    for person, count in zip(people, counts, strict=True):
        assert await followed(telegram, person, count) == say("en", "poll.ask_age")
    asked = [c for c in telegram.delivered() if c.params.get("text") == say("en", "poll.ask_age")]
    assert sorted(int(c.params["chat_id"]) for c in asked) == [p.user_id for p in people]
    assert len(await rows(database_url, PollAnswer)) == len(people)


async def test_a_closing_question_given_up_is_recorded_not_dropped(
    start_bot: StartBot, telegram: FakeTelegram, database_url: str
) -> None:
    """A follow-up has no future for anyone to read (Outbox.follow): one given up is still
    counted and recorded for its person, as any message given up is."""
    await naryn_poll(database_url)
    runtime = await start_bot("webhook", send_give_up_minutes=0.05)  # three seconds
    resident = resident_of(runtime, telegram, "webhook", 9931, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    await resident.send("/polls")
    before = len(delivered(telegram, resident))
    given_up = given_up_count("rate_limited")

    telegram.throttle(resident.user_id, retry_after=1, seconds=3600)  # every message: 429
    await resident.press("2. Water")
    failed = await failed_sends(database_url)

    person = next(p for p in await rows(database_url, Person) if p.channel_user_id == "9931")
    assert failed == [(person.id, "telegram", "failed", "rate-limited for over 0.05 min")]
    assert given_up_count("rate_limited") == given_up + 1
    assert len(delivered(telegram, resident)) == before  # the question never went


async def failed_sends(database_url: str) -> list[tuple[int | None, str, str, str | None]]:
    """The failed records of messages given up, once there is one (for at most HANG_GUARD:
    the outbox records it after the webhook's 200, and nothing here is told of it)."""
    for _ in range(int(HANG_GUARD / 0.05)):
        records = await rows(database_url, OutboundMessage)
        failed = [(m.person_id, m.channel, m.status, m.note) for m in records]
        if failed:
            return failed
        await asyncio.sleep(0.05)
    raise AssertionError("the closing question was neither sent nor given up")
