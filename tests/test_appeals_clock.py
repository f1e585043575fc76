"""An appeal's legal clock (handlers/appeal_clock.py, handlers/appeals.py) at the conversation
level: staff reminded three working days before and on the due day, once each however many
workers run the clock; the appeal marked overdue the day after and its resident told; an
answer with a final status stops the clock, an interim one does not; an extension moves it
once, with its reason told to the resident; the chat inbox shows appeals first, by due date,
with the appellant's name and address to staff only. On both databases."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.channels.notices import revive
from bot.digests import overdue as overdue_digest
from handlers import appeal_clock, appeals, working_days
from handlers.context import Context
from handlers.dates import Day
from handlers.pseudonyms import Pseudonyms
from handlers.types import Text
from handlers.working_days import add_working_days, working_days_before
from storage.models import Appeal, AuditEntry, Notice, Person, Wish
from storage.queries import appeals as appeal_rows
from tests.conftest import Civicbot, Say
from tests.conversation import Conversation, World
from tests.digests import invite_code
from tests.test_appeals_conversation import ADDRESS, NAME, with_wish
from tests.test_inbox_conversation import notices_to, official

_places = itertools.count(1)
ZONE = ZoneInfo("Asia/Bishkek")


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    return conversation_database_url


async def fresh_place(civicbot: Civicbot) -> str:
    key = f"clock_{next(_places)}"
    names = ("--name-ky", f"Айыл {key}", "--name-ru", f"Село {key}", "--name-en", key)
    rc, _, err = await civicbot("municipality", "add", key, "--region", "naryn", *names)
    assert rc == 0, err
    return key


async def appellant(world: World, place: str, text: str) -> tuple[Conversation, Appeal]:
    resident, _ = await with_wish(world, place, text)
    await resident.send("/appeal")
    await resident.send(NAME)
    await resident.send(ADDRESS)
    return resident, await appeal_by_text(world, text)


async def appeal_by_text(world: World, text: str) -> Appeal:
    async with world.db.session() as session:
        appeal = await session.scalar(
            select(Appeal).join(Wish, Wish.id == Appeal.wish_id).where(Wish.text == text)
        )
    assert appeal is not None, text
    return appeal


async def set_due(world: World, appeal: Appeal, due: date) -> None:
    async with world.db.session() as session, session.begin():
        await session.execute(
            update(Appeal).where(Appeal.id == appeal.id).values(due_on=due, first_due_on=due)
        )


def at(day: date) -> datetime:
    """Ten in the morning of that day in Bishkek."""
    return datetime.combine(day, time(10), ZONE)


async def notices_of(world: World, who: Conversation) -> list[Notice]:
    async with world.db.session() as session:
        return list(
            await session.scalars(
                select(Notice)
                .join(Person, Person.id == Notice.person_id)
                .where(Person.channel == who.channel, Person.channel_user_id == who.user)
                .order_by(Notice.id)
            )
        )


def rendered(notice: Notice) -> Text:
    """A notice as the notifier renders it (bot/channels/notices.py)."""
    return Text(notice.key, revive(notice.values))


async def test_reminders_go_once_each_across_holidays_and_the_overdue_mark_tells_the_resident(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    deputy = await official(world, civicbot, place, "deputy")
    resident, appeal = await appellant(world, place, "Мектептин чатыры агат")
    # Due Tuesday 12 May 2026: 1–10 May are days off in Kyrgyzstan (Labour Day, the
    # Constitution, Victory Day and the days the government joined to them), so three
    # working days before is Wednesday 29 April.
    due = date(2026, 5, 12)
    await set_due(world, appeal, due)
    assert working_days_before(due, 3) == date(2026, 4, 29)

    await appeal_clock.tick(world.db, at(date(2026, 4, 28)))
    assert await notices_to(world, staff) == []
    # Two workers at once, and the job run again: one reminder.
    await asyncio.gather(*(appeal_clock.tick(world.db, at(date(2026, 4, 29))) for _ in range(3)))
    await appeal_clock.tick(world.db, at(date(2026, 5, 11)))
    assert await notices_to(world, staff) == [appeal_clock.DUE_SOON]
    await asyncio.gather(*(appeal_clock.tick(world.db, at(due)) for _ in range(3)))
    assert await notices_to(world, staff) == [appeal_clock.DUE_SOON, appeal_clock.DUE_TODAY]
    assert await notices_to(world, resident) == []
    await asyncio.gather(*(appeal_clock.tick(world.db, at(date(2026, 5, 13))) for _ in range(3)))
    assert await notices_to(world, staff) == [
        appeal_clock.DUE_SOON,
        appeal_clock.DUE_TODAY,
        appeal_clock.OVERDUE_STAFF,
    ]
    assert await notices_to(world, resident) == [appeal_clock.OVERDUE_NOTICE]
    assert await notices_to(world, deputy) == []  # deputies do not answer: not reminded
    marked = await appeal_by_text(world, "Мектептин чатыры агат")
    assert marked.overdue_at is not None and marked.answered_on is None

    # What staff and the resident read names the appeal, its topic and date, never its
    # appellant.
    [soon, *_] = await notices_of(world, staff)
    text = world.catalogues.text("en", rendered(soon))
    assert appeal.number in text and say("en", "category.street_lighting") in text
    assert str(Day(due, "en")) in text
    for notice in [*await notices_of(world, staff), *await notices_of(world, resident)]:
        assert "Асанов" not in str(notice.values) and "Ленин" not in str(notice.values)
    [overdue] = await notices_of(world, resident)
    told = world.catalogues.text("ky", rendered(overdue))
    assert told == say("ky", "appeal.overdue_notice", **overdue.values)


async def test_a_final_answer_stops_the_clock_and_an_interim_one_does_not(
    world: World, civicbot: Civicbot
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    _, appeal = await appellant(world, place, "Суу түтүгү жарылды")
    reference = appeal.wish.reference
    await staff.send(f"/answer {reference} 2 We are on it")
    assert (await appeal_by_text(world, "Суу түтүгү жарылды")).answered_on is None
    await staff.send("/inbox")  # the waiting list keeps it while its clock runs
    assert reference in staff.buttons()
    await staff.send(f"/answer {reference} 3 Repaired")
    await staff.send("/inbox")
    assert reference not in staff.buttons()
    answered = await appeal_by_text(world, "Суу түтүгү жарылды")
    assert answered.answered_on == datetime.now(ZONE).date()
    # The clock passes its due date: nothing more for an answered appeal.
    await appeal_clock.tick(world.db, at(answered.due_on + timedelta(days=30)))
    assert (await appeal_by_text(world, "Суу түтүгү жарылды")).overdue_at is None
    assert appeal_clock.OVERDUE_STAFF not in await notices_to(world, staff)


async def test_staff_extend_once_with_a_reason_the_resident_hears_and_the_reminders_go_again(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    resident, appeal = await appellant(world, place, "Көпүрө бузулду")
    today = datetime.now(ZONE).date()
    async with world.db.session() as session, session.begin():
        await session.execute(
            update(Appeal)
            .where(Appeal.id == appeal.id)
            .values(reminded_before_at=at(today), reminded_due_at=at(today))
        )
    [card] = await staff.send(f"/inbox {appeal.wish.reference}")
    assert (
        say("en", "appeal.inbox_line", number=appeal.number, due=Day(appeal.due_on, "en")) in card
    )
    assert say("en", "appeal.inbox_identity", name=NAME, address=ADDRESS) in card
    await staff.press(say("en", "appeal.extend_button"))
    [refused] = await staff.send("30 too much work")
    assert refused.startswith(say("en", "appeal.extend_days", most=14))
    for unreadable in ("soon", "² reasons", "٣ reasons"):  # digits to str.isdigit alone
        [refused] = await staff.send(unreadable)
        assert refused.startswith(say("en", "appeal.extend_how"))
    [saved] = await staff.send("10   The district must agree first")
    moved = add_working_days(appeal.due_on, 10)
    assert saved.startswith(
        say("en", "appeal.extend_saved", number=appeal.number, due=Day(moved, "en"))
    )
    assert say("en", "appeal.inbox_extended", reason="The district must agree first") in saved
    assert say("en", "appeal.extend_button") not in staff.buttons()  # once, as the law says

    extended = await appeal_by_text(world, "Көпүрө бузулду")
    assert (extended.due_on, extended.first_due_on) == (moved, appeal.due_on)
    assert extended.reminded_before_at is None and extended.reminded_due_at is None
    [notice] = await notices_of(world, resident)
    assert notice.key == appeals.EXTENDED_NOTICE
    told = world.catalogues.text("ky", rendered(notice))
    assert str(Day(moved, "ky")) in told and "The district must agree first" in told
    async with world.db.session() as session:  # in the audit log, as from the console
        audited = select(AuditEntry).where(AuditEntry.subject == appeal.wish.reference)
        entries = (await session.scalars(audited)).all()
    assert [(e.via, e.action, e.detail["days"]) for e in entries] == [(staff.channel, "extend", 10)]

    async with world.db.session() as session, session.begin():
        again = await session.get(Appeal, appeal.id)
        assert again is not None
        staff_person = await session.scalar(
            select(Person).where(Person.channel_user_id == staff.user)
        )
        assert staff_person is not None
        with pytest.raises(appeals.NotExtendable) as refused_twice:
            await appeals.extend(session, again, 2, "again", staff_person, today, "telegram")
    assert refused_twice.value.why.key == "appeal.extend_once"


def seen_on(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    """Every conversation's "today" (ctx.today) is `day` (fixed dates: no test depends on
    the weekday it runs on)."""
    monkeypatch.setattr(Context, "today", property(lambda _: day))


async def test_the_inbox_lists_appeals_first_by_due_date_and_shows_the_appellant_to_staff_only(
    world: World, civicbot: Civicbot, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    deputy = await official(world, civicbot, place, "deputy")
    _, later = await appellant(world, place, "Биринчи өтүнүч")
    _, overdue = await appellant(world, place, "Экинчи өтүнүч")
    await with_wish(world, place, "Жөн эле тилек")  # the newest, not an appeal
    # Seen on Saturday 16 May 2026, due Wednesday the 13th: Thursday and Friday late.
    seen_on(monkeypatch, date(2026, 5, 16))
    late_due = date(2026, 5, 13)
    await set_due(world, overdue, late_due)

    await staff.send("/inbox")
    references = [overdue.wish.reference, later.wish.reference]
    assert staff.buttons()[:2] == references  # the earliest due first, then the rest
    [card] = await staff.press(overdue.wish.reference)
    assert say("en", "appeal.inbox_overdue", days=2) in card
    assert NAME in card and ADDRESS in card

    [page] = await deputy.send("/inbox")
    assert deputy.buttons()[:2] == references
    assert say("en", "appeal.inbox_line", number=overdue.number, due=Day(late_due, "en")) in page
    [card] = await deputy.press(overdue.wish.reference)
    assert say("en", "appeal.inbox_overdue", days=2) in card
    assert "Асанов" not in card and "Ленин" not in card
    assert say("en", "appeal.extend_button") not in deputy.buttons()


async def test_a_seal_another_key_made_leaves_the_card_working(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    _, appeal = await appellant(world, place, "Бөлмө суук")
    foreign = appeals.sealer_for(Pseudonyms("another-key-of-at-least-32-characters"))
    async with world.db.session() as session, session.begin():
        await session.execute(
            update(Appeal)
            .where(Appeal.id == appeal.id)
            .values(sealed=foreign.seal({"name": NAME, "address": ADDRESS}))
        )
    [card] = await staff.send(f"/inbox {appeal.wish.reference}")
    assert say("en", "appeal.inbox_unreadable") in card and appeal.number in card


async def test_a_staff_member_answering_by_sms_stops_the_clock_too(
    world: World, civicbot: Civicbot
) -> None:
    place = await fresh_place(civicbot)
    staff = world.conversation("sms", "ru")
    await staff.send(f"ВСТУПИТЬ {await invite_code(civicbot, 'staff', place)}")
    _, appeal = await appellant(world, place, "Арык бузулду")
    await staff.send(f"ОТВЕТ {appeal.wish.reference} 4 Нет средств в бюджете")
    answered = await appeal_by_text(world, "Арык бузулду")
    assert answered.answered_on == datetime.now(ZONE).date()


@pytest.mark.parametrize(("answer", "stopped"), [("3 Repaired", True), ("2 On it", False)])
async def test_an_appeal_marked_a_duplicate_of_an_answered_wish_stops_its_clock(
    world: World, civicbot: Civicbot, answer: str, stopped: bool
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    await with_wish(world, place, f"Биринчи {answer}")
    async with world.db.session() as session:
        first = await session.scalar(select(Wish).where(Wish.text == f"Биринчи {answer}"))
    assert first is not None
    await staff.send(f"/answer {first.reference} {answer}")  # final ("done") or interim
    _, appeal = await appellant(world, place, f"Кайталанган {answer}")
    await staff.send(f"/answer {appeal.wish.reference} 5 {first.reference}")
    marked = await appeal_by_text(world, f"Кайталанган {answer}")
    assert marked.wish.duplicate_of == first.id
    today = datetime.now(ZONE).date()
    assert marked.answered_on == (today if stopped else None)


async def test_a_reminder_read_against_the_due_date_before_an_extension_is_not_stamped(
    world: World, civicbot: Civicbot
) -> None:
    place = await fresh_place(civicbot)
    _, appeal = await appellant(world, place, "Эски мөөнөт")
    due = date(2026, 5, 12)
    await set_due(world, appeal, due)
    moved = add_working_days(due, 5)
    async with world.db.session() as session, session.begin():
        # The clock read the appeal due on the 12th; staff extend it before it stamps.
        assert await appeal_rows.extend(session, appeal.id, due, moved, "The district decides")
        assert not await appeal_rows.stamp(session, appeal.id, "reminded_due_at", at(due), due)
        assert await appeal_rows.stamp(session, appeal.id, "reminded_due_at", at(due), moved)


async def test_of_two_staff_extending_at_once_one_wins_and_the_other_is_told(
    world: World, civicbot: Civicbot
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    _, appeal = await appellant(world, place, "Эки кызматкер")
    today = date(2026, 5, 4)
    due = date(2026, 5, 12)
    await set_due(world, appeal, due)
    async with world.db.session() as session, session.begin():
        read = await session.get(Appeal, appeal.id)  # what the second one's card showed
        member = await session.scalar(select(Person).where(Person.channel_user_id == staff.user))
        assert read is not None and member is not None
        # The first one's extension commits in between (no ORM object sees it).
        assert await appeal_rows.extend(session, appeal.id, due, date(2026, 5, 20), "First")
        with pytest.raises(appeals.NotExtendable) as lost:
            await appeals.extend(session, read, 3, "Second", member, today, "telegram")
    assert lost.value.why.key == "appeal.extend_once"
    kept = await appeal_by_text(world, "Эки кызматкер")
    assert (kept.due_on, kept.extended_reason) == (date(2026, 5, 20), "First")


async def test_an_appeal_due_on_friday_is_one_working_day_late_on_saturday_everywhere(
    world: World, civicbot: Civicbot, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    _, appeal = await appellant(world, place, "Жума күнү мөөнөтү")
    saturday = date(2026, 5, 16)
    await set_due(world, appeal, date(2026, 5, 15))
    seen_on(monkeypatch, saturday)
    [card] = await staff.send(f"/inbox {appeal.wish.reference}")
    assert say("en", "appeal.inbox_overdue", days=1) in card  # not "by 0 working days"
    async with world.db.session() as session:
        [line] = await overdue_digest.collect(session, appeal.municipality_id, saturday)
    assert (line.number, line.days_late) == (appeal.number, 1)
    assert appeals.working_days_late(date(2026, 5, 15), date(2026, 5, 15)) == 0  # not yet


async def test_nothing_is_sent_before_nine_and_a_late_reminder_says_the_days_really_left(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    staff = await official(world, civicbot, place)
    resident, appeal = await appellant(world, place, "Түнкү эскертүү")
    due = date(2026, 5, 12)
    await set_due(world, appeal, due)
    # The reminder three working days before (29 April) was never sent: on 11 May at 00:10
    # nothing goes; at nine the reminder says one working day is left, not three.
    eleventh = date(2026, 5, 11)
    assert await appeal_clock.tick(world.db, datetime.combine(eleventh, time(0, 10), ZONE)) == (
        appeal_clock.Tally()
    )
    assert await notices_to(world, staff) == []
    await appeal_clock.tick(world.db, datetime.combine(eleventh, time(9), ZONE))
    [soon] = await notices_of(world, staff)
    assert soon.key == appeal_clock.DUE_SOON and soon.values["days"] == 1
    assert "1 working day from now" in world.catalogues.text("en", rendered(soon))
    # Overdue the day after its due day: told at nine, not just after midnight.
    after = date(2026, 5, 13)
    await appeal_clock.tick(world.db, datetime.combine(after, time(8, 59), ZONE))
    assert await notices_to(world, resident) == []
    await appeal_clock.tick(world.db, datetime.combine(after, time(9), ZONE))
    assert await notices_to(world, resident) == [appeal_clock.OVERDUE_NOTICE]


async def test_no_working_day_is_counted_while_no_appeal_is_due_soon(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holiday calendar is about 11 MB once a year of it is read (docs/operations.md,
    "Footprint"): a server whose clock meets no appeal does not load it."""

    def unread(year: int) -> frozenset[date]:
        raise AssertionError(f"the holidays of {year} were read")

    monkeypatch.setattr(working_days, "_holidays", unread)
    # Long before any appeal of these tests is due: none is read.
    assert await appeal_clock.tick(world.db, at(date(2000, 1, 4))) == appeal_clock.Tally()


def test_the_clock_reads_every_appeal_due_within_its_reminder_days() -> None:
    """The clock reads the appeals due within HORIZON calendar days: never nearer than the
    REMIND_BEFORE-th working day, May's ten days off included."""
    day, last = date(2025, 1, 1), date(2031, 1, 1)
    while day < last:
        reminded_by = add_working_days(day, appeal_clock.REMIND_BEFORE)
        assert reminded_by <= day + appeal_clock.HORIZON, day
        day += timedelta(days=1)
