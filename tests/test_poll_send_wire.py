"""A poll sent on the real wire: to Telegram (the fake Bot API) with its options' buttons, by
SMS and to WhatsApp (the fake Twilio) in one segment, each in the person's language; once
per person across a killed worker's lease and two live workers; failures kept with why; and
polls past their time closed once."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.channels import poll_message, poll_sender
from bot.channels.poll_sender import PollSender
from bot.channels.sms.segments import segments
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers.types import Text
from storage import queries
from storage.db import Database
from storage.models import Person, Poll, PollOption, PollSend, utcnow
from storage.queries import poll_sends
from storage.queries.poll_sends import LEASE
from tests.conftest import SECRET_KEY, Civicbot, StartBot, StartBotOn, execute, rows
from tests.fake_telegram import FakeTelegram
from tests.test_poll_send_cli import PEOPLE, people_of_naryn, poll_added
from tests.twilio import FakeTwilio, twilio_settings


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loops look for rows planned elsewhere (by the command) every 0.1 s, not 2."""
    monkeypatch.setattr(poll_sender, "INTERVAL", 0.1)


async def settled(database_url: str, count: int) -> list[PollSend]:
    """The poll's rows once `count` of them are no longer pending."""
    async with asyncio.timeout(20):
        while True:
            planned = await rows(database_url, PollSend)
            if sum(p.status != "pending" for p in planned) >= count:
                return planned
            await asyncio.sleep(0.05)


def poll_buttons(call_params: dict[str, object]) -> list[str]:
    markup = call_params["reply_markup"]
    assert isinstance(markup, dict)
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


async def test_each_person_gets_the_poll_on_their_channel_in_their_language(
    start_bot: StartBot,
    civicbot: Civicbot,
    database_url: str,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
) -> None:
    await people_of_naryn(database_url)
    await start_bot("webhook", **twilio_settings(twilio.base_url))
    code = await poll_added(civicbot, "--question-ru", "Какую улицу чинить первой?")
    assert (await civicbot("poll", "send", code, "--yes"))[0] == 0
    planned = await settled(database_url, 6)
    assert sorted(p.status for p in planned) == ["sent"] * 6

    (kyrgyz,) = telegram.delivered_to(1001)
    assert str(kyrgyz.params["text"]).startswith("Кайсы көчөнү биринчи оңдоо керек?")
    assert poll_buttons(kyrgyz.params) == [f"poll:{code}:1", f"poll:{code}:2"]
    (russian,) = telegram.delivered_to(1002)
    assert str(russian.params["text"]).startswith("Какую улицу чинить первой?")

    bodies = {m["To"]: m["Body"] for m in twilio.sent}
    # WhatsApp with no template set goes by SMS to the same number, as notices do.
    assert set(bodies) == {user for channel, user, _, _ in PEOPLE if channel in ("sms", "whatsapp")}
    assert bodies["+996700000001"].startswith(f"СУРОО {code}: ")
    assert bodies["+996700000002"].startswith(f"ОПРОС {code}: Какую")
    assert bodies["+996700000003"].startswith(f"POLL {code}: Кайсы")  # en falls back to ky
    assert all(segments(body) == 1 for body in bodies.values())
    assert all(" 1-" in body and " 2-" in body for body in bodies.values())


async def test_a_failed_send_is_kept_with_why_and_a_blocked_chat_is_skipped(
    start_bot: StartBot, civicbot: Civicbot, database_url: str, telegram: FakeTelegram
) -> None:
    people = [("telegram", "1001", "ky", None), ("telegram", "1002", "ky", None)]
    await people_of_naryn(database_url, [*people, ("sms", "+996700000001", "ky", None)])
    telegram.blocked_chats.add(1002)
    await start_bot("webhook")  # no SMS here: its rows fail as "off", not wait forever
    code = await poll_added(civicbot)
    await civicbot("poll", "send", code, "--yes")
    planned = {p.channel + p.status: p for p in await settled(database_url, 3)}
    assert set(planned) == {"telegramsent", "telegramskipped", "smsfailed"}
    assert planned["telegramskipped"].note == "blocked"
    assert planned["smsfailed"].note == "unreached.off"
    _, out, _ = await civicbot("poll", "list")
    assert "sent 1/3, skipped 1, failed 1" in out


async def test_a_dead_workers_claim_is_sent_after_its_lease_and_a_live_one_is_not(
    start_bot: StartBot, civicbot: Civicbot, database_url: str, telegram: FakeTelegram
) -> None:
    people = [("telegram", "1001", "ky", None), ("telegram", "1002", "ky", None)]
    await people_of_naryn(database_url, people)
    code = await poll_added(civicbot)
    await civicbot("poll", "send", code, "--yes")
    dead, live = utcnow() - LEASE - dt.timedelta(minutes=1), utcnow()
    planned = sorted(await rows(database_url, PollSend), key=lambda p: p.id)
    for row, claimed in zip(planned, (dead, live), strict=True):
        await execute(
            database_url,
            update(PollSend).where(PollSend.id == row.id).values(claimed_at=claimed, attempts=1),
        )
    await start_bot("webhook")
    done = await settled(database_url, 1)
    assert [p.status for p in sorted(done, key=lambda p: p.id)] == ["sent", "pending"]
    assert len(telegram.delivered_to(1001)) == 1 and telegram.delivered_to(1002) == []


async def test_a_send_that_crashed_its_worker_every_time_is_failed_not_tried_again(
    start_bot: StartBot, civicbot: Civicbot, database_url: str, telegram: FakeTelegram
) -> None:
    """A row claimed ATTEMPTS times already, its last lease over, is failed ("attempts") when
    a claim comes to it; the row after it is sent."""
    people = [("telegram", "1011", "ky", None), ("telegram", "1012", "ky", None)]
    await people_of_naryn(database_url, people)
    code = await poll_added(civicbot)
    await civicbot("poll", "send", code, "--yes")
    first = min(p.id for p in await rows(database_url, PollSend))
    dead = utcnow() - LEASE - dt.timedelta(minutes=1)
    spent = {"claimed_at": dead, "attempts": poll_sends.ATTEMPTS}
    await execute(database_url, update(PollSend).where(PollSend.id == first).values(**spent))
    await start_bot("webhook")
    done = sorted(await settled(database_url, 2), key=lambda p: p.id)
    assert [(p.status, p.note) for p in done] == [("failed", "attempts"), ("sent", None)]
    assert telegram.delivered_to(1011) == [] and len(telegram.delivered_to(1012)) == 1


async def test_a_claim_passes_a_window_of_spent_rows(database_url: str, civicbot: Civicbot) -> None:
    """A claim whose window holds spent rows only fails them and claims the rows after them,
    rather than nothing (which would leave the sender idle for a look)."""
    await people_of_naryn(database_url, [("telegram", str(1021 + n), "ky", None) for n in range(3)])
    code = await poll_added(civicbot)
    await civicbot("poll", "send", code, "--yes")
    planned = sorted(p.id for p in await rows(database_url, PollSend))
    dead = utcnow() - LEASE - dt.timedelta(minutes=1)
    spent = {"claimed_at": dead, "attempts": poll_sends.ATTEMPTS}
    await execute(
        database_url, update(PollSend).where(PollSend.id.in_(planned[:2])).values(**spent)
    )
    db = Database(database_url)
    try:
        claimed = await db.write(lambda s: queries.claim_sends(s, ["telegram"], 2, utcnow()))
    finally:
        await db.close()
    assert claimed == [planned[2]]
    after = {p.id: (p.status, p.note) for p in await rows(database_url, PollSend)}
    assert [after[i] for i in planned] == [("failed", "attempts")] * 2 + [("pending", None)]


async def test_two_workers_send_each_poll_once(
    start_bot_on: StartBotOn,
    postgres_url: str,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.commands import cli

    people = [("telegram", str(3000 + n), "ky", None) for n in range(60)]
    await start_bot_on(postgres_url)  # migrates the new database
    await people_of_naryn(postgres_url, people)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    await start_bot_on(postgres_url)
    db = Database(postgres_url)
    try:
        async with db.session() as session, session.begin():
            naryn = await queries.municipality_by_key(session, "naryn_city")
            assert naryn is not None
            poll = await queries.add_poll(
                session, naryn.id, {"ky": "Суроо"}, [{"label_ky": "Ооба"}, {"label_ky": "Жок"}],
                utcnow() + dt.timedelta(days=3), status="draft",
            )  # fmt: skip
            code = poll.code
    finally:
        await db.close()
    assert await asyncio.to_thread(cli.main, ["poll", "send", code, "--yes"]) == 0
    await settled(postgres_url, 60)
    sent = [int(c.params["chat_id"]) for c in telegram.delivered() if c.params.get("reply_markup")]
    assert sorted(sent) == list(range(3000, 3060))


async def test_polls_past_their_time_are_closed_once(
    civicbot: Civicbot, database_url: str, catalogues: Catalogues
) -> None:
    code = await poll_added(civicbot)
    await civicbot("poll", "send", code, "--yes")
    await execute(database_url, update(Poll).values(closes_at=utcnow() - dt.timedelta(seconds=1)))
    db = Database(database_url)
    try:
        workers = [PollSender(db, catalogues, {}, "Asia/Bishkek") for _ in range(2)]
        assert [await w.close_due() for w in workers] == [[code], []]
        async with db.session() as session:
            poll = await session.scalar(select(Poll))
            assert poll is not None and poll.status == "closed" and poll.closed_at is not None
    finally:
        await db.close()


LONG_QUESTION = {
    "ky": "Айылдын борборундагы эски мектептин имаратын оңдоону же жаңы бала бакча курууну "
    "кайсынысын биринчи кезекте каржылоо керек деп ойлойсуз?",
    "ru": "Что, по-вашему, нужно профинансировать в первую очередь: ремонт старого здания "
    "школы в центре села или строительство нового детского сада?",
    "en": "Which should be funded first: repairing the old school building in the centre "
    "of the village, or building a new kindergarten for the children?",
}
LABELS = {
    "ky": ["Мектепти оңдоо", "Жаңы бала бакча", "Экөө тең эмес"],
    "ru": ["Ремонт школы", "Новый детский сад", "Ни то, ни другое"],
    "en": ["Repair the school", "A new kindergarten", "Neither"],
}


@pytest.mark.parametrize("kind", ["single", "priority"])
@pytest.mark.parametrize("language", ["ky", "ru", "en"])
def test_the_sms_form_fits_one_segment_with_a_long_question(
    catalogues: Catalogues, language: str, kind: str
) -> None:
    questions = {f"question_{k}": v for k, v in LONG_QUESTION.items()}
    poll = Poll(code="4127", kind=kind, max_choices=2, **questions)
    options = [
        PollOption(position=n, **{f"label_{k}": LABELS[k][n - 1] for k in LABELS})
        for n in (1, 2, 3)
    ]
    text = poll_message.sms_text(poll, options, catalogues, language)
    assert segments(text) == 1, text
    assert text.startswith(
        {"ky": "СУРОО 4127: ", "ru": "ОПРОС 4127: ", "en": "POLL 4127: "}[language]
    )
    question = text.split(": ", 1)[1]
    assert LONG_QUESTION[language][:10] in question  # shortened, not gone
    assert all(f" {n}" in text for n in (1, 2, 3))  # every option, as its number
    # A question that fits stays whole.
    poll.question_ky = poll.question_ru = poll.question_en = "Жол?"
    assert "Жол?" in poll_message.sms_text(poll, options, catalogues, language)


async def test_two_claims_at_once_take_different_rows(postgres_url: str) -> None:
    """Two workers claiming at the same moment (the second while the first's claim is not yet
    committed) never take one row both."""
    migrated = await prepare_database(Settings(database_url=postgres_url, secret_key=SECRET_KEY))
    await migrated.close()
    people = [("telegram", str(4000 + n), "ky", None) for n in range(40)]
    await people_of_naryn(postgres_url, people)
    db = Database(postgres_url)
    try:
        async with db.session() as session, session.begin():
            naryn = await queries.municipality_by_key(session, "naryn_city")
            assert naryn is not None
            poll = await queries.add_poll(
                session, naryn.id, {"ky": "Суроо"}, [{"label_ky": "Ооба"}, {"label_ky": "Жок"}],
                utcnow() + dt.timedelta(days=3), status="open",
            )  # fmt: skip
            await queries.plan_sends(session, poll, ("sms",), utcnow())
        async with db.session() as first, first.begin():
            mine = await queries.claim_sends(first, ["telegram"], 16, utcnow())

            async def other() -> list[int]:
                async with db.session() as second, second.begin():
                    return list(await queries.claim_sends(second, ["telegram"], 16, utcnow()))

            theirs = asyncio.create_task(other())
            await asyncio.sleep(0.5)  # the second claims while the first is uncommitted
        assert len(mine) == 16 and len(await theirs) == 16
        assert set(mine).isdisjoint(theirs.result())
    finally:
        await db.close()


def test_a_budget_round_on_telegram_shows_costs_and_one_choose_button(
    catalogues: Catalogues,
) -> None:
    poll = Poll(
        code="77", kind="budget", max_choices=3, budget_total=500000, question_ky="Бюджет",
        closes_at=dt.datetime(2027, 1, 16, 12, tzinfo=dt.UTC),
    )  # fmt: skip
    options = [
        PollOption(position=1, label_ky="Жол", cost=300000),
        PollOption(position=2, label_ky="Мектеп", cost=250000),
    ]
    outgoing = poll_message.telegram_message(poll, options, catalogues, "ru", "Asia/Bishkek")
    text = catalogues.text("ru", outgoing.message)
    assert "1. Жол — 300 000 сом\n2. Мектеп — 250 000 сом" in text
    assert "не больше 500 000 сомов" in text and "до 16 января 2027" in text
    assert outgoing.keyboard == ((("Выбрать", "poll:77:pick"),),)


async def test_residents_are_told_the_last_day_answers_are_taken(
    start_bot: StartBot,
    civicbot: Civicbot,
    database_url: str,
    telegram: FakeTelegram,
    catalogues: Catalogues,
) -> None:
    """`--closes 20991220` (ISO's short form) is open all of December 20 (closing at the
    midnight that starts the 21st, local time), and the message, the public page and the
    digest all say "until December 20", once (no "г.." in Russian)."""
    from bot.digests import content
    from bot.web import poll_section
    from handlers.weeks import Week

    people = [("telegram", "1001", "ky", None), ("telegram", "1002", "ru", None)]
    await people_of_naryn(database_url, [*people, ("telegram", "1003", "en", None)])
    await start_bot("webhook")
    code = await poll_added(civicbot, "--closes", "20991220")
    (poll,) = await rows(database_url, Poll)
    bishkek = ZoneInfo("Asia/Bishkek")
    assert poll.closes_at == dt.datetime(2099, 12, 21, tzinfo=bishkek)
    await civicbot("poll", "send", code, "--yes")
    await settled(database_url, 3)
    texts = {
        chat: str(telegram.delivered_to(chat)[0].params["text"]).replace("\u202f", " ")
        for chat in (1001, 1002, 1003)
    }
    assert texts[1001].endswith("20-декабрга чейин күтөбүз."), texts[1001]
    assert texts[1002].endswith("до 20 декабря 2099 г."), texts[1002]
    assert texts[1003].endswith("until December 20, 2099."), texts[1003]

    db = Database(database_url)
    try:
        async with db.session() as session:
            naryn = await queries.municipality_by_key(session, "naryn_city")
            assert naryn is not None

            def say(text: Text) -> str:
                return catalogues.text("en", text)

            (shown,) = await poll_section.polls_of(session, naryn, "en", say, "Asia/Bishkek")
            assert "20 December" in shown["open"], shown
            week = Week.of(utcnow().astimezone(bishkek).date())
            digest = await content.collect(session, naryn, week, "Asia/Bishkek", week.monday, 14)
            assert [line.closes_on for line in digest.polls] == [dt.date(2099, 12, 20)]
    finally:
        await db.close()


async def test_a_poll_that_opens_later_is_sent_when_it_opens(
    civicbot: Civicbot, database_url: str
) -> None:
    """`send --yes` plans a poll with a later --opens at once, but its rows are claimed
    (sent) only from the moment it opens."""
    await people_of_naryn(database_url, [("telegram", "1001", "ky", None)])
    code = await poll_added(civicbot, "--opens", "2099-12-01T09:00")
    assert (await civicbot("poll", "send", code, "--yes"))[0] == 0
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            assert await queries.claim_sends(session, ["telegram"], 16, utcnow()) == []
        await execute(database_url, update(Poll).values(opens_at=utcnow()))
        async with db.session() as session, session.begin():
            claimed = await queries.claim_sends(session, ["telegram"], 16, utcnow())
        assert [p.id for p in await rows(database_url, PollSend)] == claimed
    finally:
        await db.close()


async def test_one_worker_at_a_time_sends_a_channel(
    postgres_url: str, catalogues: Catalogues
) -> None:
    """Two workers (two servers' poll senders on one PostgreSQL) send a channel's polls one
    at a time: the one holding the channel's advisory lock sends them all, so the channel's
    pace is one worker's, not twice it."""
    migrated = await prepare_database(Settings(database_url=postgres_url, secret_key=SECRET_KEY))
    await migrated.close()
    people = [("telegram", str(5000 + n), "ky", None) for n in range(40)]
    await people_of_naryn(postgres_url, people)
    db = Database(postgres_url)
    sent: dict[int, list[int]] = {0: [], 1: []}

    class Recorder:
        connected = None

        def __init__(self, worker: int) -> None:
            self.worker = worker

        async def notify(self, person: Person, outgoing: object, deadline: float) -> None:
            sent[self.worker].append(person.id)
            await asyncio.sleep(0)  # let the other worker run between sends

    try:
        async with db.session() as session, session.begin():
            naryn = await queries.municipality_by_key(session, "naryn_city")
            assert naryn is not None
            poll = await queries.add_poll(
                session, naryn.id, {"ky": "Суроо"}, [{"label_ky": "Ооба"}, {"label_ky": "Жок"}],
                utcnow() + dt.timedelta(days=3), status="open",
            )  # fmt: skip
            await queries.plan_sends(session, poll, ("sms",), utcnow())
        workers = [
            PollSender(db, catalogues, {"telegram": Recorder(n)}, "Asia/Bishkek")  # type: ignore[dict-item]
            for n in (0, 1)
        ]
        loops = [asyncio.create_task(w.run_channel("telegram")) for w in workers]
        await settled(postgres_url, 40)
        for worker in workers:
            worker.stopping.set()
        await asyncio.gather(*loops)
        assert sorted([len(sent[0]), len(sent[1])]) == [0, 40], sent
    finally:
        await db.close()


async def test_a_claim_past_its_lease_settles_nothing_its_new_holder_has(
    civicbot: Civicbot, database_url: str
) -> None:
    """A worker whose claim outlived its lease (the row claimed again by another) does not
    settle the row: only the claim holding it now does."""
    await people_of_naryn(database_url, [("telegram", "1001", "ky", None)])
    code = await poll_added(civicbot)
    await civicbot("poll", "send", code, "--yes")
    db = Database(database_url)
    try:
        first = utcnow()
        async with db.session() as session, session.begin():
            [send_id] = await queries.claim_sends(session, ["telegram"], 16, first)
        later = first + LEASE + dt.timedelta(seconds=1)
        async with db.session() as session, session.begin():
            assert await queries.claim_sends(session, ["telegram"], 16, later) == [send_id]
        async with db.session() as session, session.begin():
            await queries.settle_send(session, send_id, "failed", later, "late", first)
        (row,) = await rows(database_url, PollSend)
        assert row.status == "pending"
        async with db.session() as session, session.begin():
            await queries.settle_send(session, send_id, "sent", later, None, later)
        (row,) = await rows(database_url, PollSend)
        assert row.status == "sent"
    finally:
        await db.close()
