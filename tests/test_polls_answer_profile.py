"""What a poll's answer keeps and what a resident may say at its end, at the conversation
level: the closing questions (village, age band, gender) on Telegram and by SMS, skipped
ones not asked again, copied into answers and shown by /mydata; people who joined during a
poll flagged; an answer's row holds nothing of the person (ARCHITECTURE.md §8); /forget
leaves their answers counted and linked to nothing."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

from sqlalchemy import inspect, select

from handlers import ballots, poll_profile
from storage.models import Conversation as ConversationRow
from storage.models import Person, PollAnswer, PollSend, utcnow
from tests.conftest import Say
from tests.conversation import World
from tests.test_polls_answer import (
    add_villages,
    answers,
    fresh_place,
    mark_sent,
    open_poll,
    person_id,
    placed,
    said,
    sms,
)


async def person(world: World, who: int) -> Person | None:
    async with world.db.session() as session:
        return await session.get(Person, who)


async def test_closing_questions_on_telegram_are_kept_and_copied_into_answers(
    world: World, say: Say
) -> None:
    place = await fresh_place(world)
    [north, _south] = await add_villages(world, place, "Түндүк", "Түштүк")
    resident = await placed(world, "telegram", place, language="en")
    first, second = await open_poll(world, place), await open_poll(world, place)

    _thanks, question = await resident.press_data(f"poll:{first.code}:1")
    assert question == say("en", "poll.ask_village")
    assert resident.buttons() == ["Түндүк", "Түштүк", say("en", "poll.skip")]
    [age] = await resident.press("Түндүк")
    assert age == say("en", "poll.ask_age")
    [gender] = await resident.press(say("en", "poll.age_30_44"))
    assert gender == say("en", "poll.ask_gender")
    assert await resident.press(say("en", "poll.gender_f")) == [say("en", "poll.profile_thanks")]
    [row] = await answers(world, first)
    assert (row.village_id, row.age_band, row.gender) == (north.id, "30-44", "f")

    # Asked once: the next poll's answer asks nothing and carries what was said.
    assert len(await resident.press_data(f"poll:{second.code}:2")) == 1
    [row] = await answers(world, second)
    assert (row.village_id, row.age_band, row.gender) == (north.id, "30-44", "f")
    [shown] = await resident.send("/mydata")
    assert (
        say(
            "en",
            "poll.my_data",
            village="Түндүк",
            age=say("en", "poll.age_30_44"),
            gender=say("en", "poll.gender_f"),
        )
        in shown
    )


async def test_closing_questions_by_sms_are_skipped_once_and_for_all(world: World) -> None:
    place = await fresh_place(world)
    await add_villages(world, place, "Ак-Суу", "Кара-Суу")
    resident = await placed(world, "sms", place, language="en")
    first, second = await open_poll(world, place), await open_poll(world, place)

    thanks = ("poll.thanks", {"code": first.code, "choices": "1"})
    village = ("poll.ask_village_by_number", {"villages": "1 Ак-Суу, 2 Кара-Суу"})
    assert await resident.send(f"POLL {first.code} 1") == [said("en", thanks, village)]
    assert await resident.send("7") == [said("en", ("poll.profile_how", {}), village)]
    assert await resident.send("0") == [sms("en", "poll.ask_age")]
    assert await resident.send("0") == [sms("en", "poll.ask_gender")]
    assert await resident.send("3") == [sms("en", "poll.profile_thanks")]  # prefer not to say
    stored = await person(world, await person_id(world, resident))
    assert stored is not None
    assert (stored.village_id, stored.age_band, stored.gender) == (None, poll_profile.SKIPPED, "x")
    [row] = await answers(world, first)
    assert (row.village_id, row.age_band, row.gender) == (None, None, None)  # nothing said
    thanks = ("poll.thanks", {"code": second.code, "choices": "2"})
    assert await resident.send(f"POLL {second.code} 2") == [said("en", thanks)]


async def test_a_poll_sent_after_the_question_takes_the_number(world: World) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="en")
    first, second = await open_poll(world, place), await open_poll(world, place)
    await resident.send(f"POLL {first.code} 1")  # the age question follows
    await mark_sent(world, second, resident, timedelta(0))
    thanks = ("poll.thanks", {"code": second.code, "choices": "2"})
    assert await resident.send("2") == [said("en", thanks, ("poll.ask_age", {}))]
    assert [row.choices for row in await answers(world, second)] == ["2"]


async def test_people_who_joined_during_a_poll_are_flagged(world: World) -> None:
    place = await fresh_place(world)
    before = await placed(world, "telegram", place)
    poll = await open_poll(world, place)  # opens now: after the first joined
    after = await placed(world, "web", place)
    await before.press_data(f"poll:{poll.code}:1")
    await after.press_data(f"poll:{poll.code}:1")
    assert sorted((row.channel, row.joined_during) for row in await answers(world, poll)) == [
        ("telegram", False),
        ("web", True),
    ]


async def test_an_answer_holds_nothing_of_the_person_and_only_its_day(world: World) -> None:
    place = await fresh_place(world)
    by_sms = await placed(world, "sms", place)
    by_telegram = await placed(world, "telegram", place)
    first, second = await open_poll(world, place), await open_poll(world, place)
    await by_sms.send(f"СУРОО {first.code} 1")
    await by_sms.send(f"СУРОО {second.code} 2")
    await by_telegram.press_data(f"poll:{first.code}:3")
    columns = {column.key for column in inspect(PollAnswer).columns}
    assert columns == {
        "id", "poll_id", "voter_key", "choices", "channel", "village_id", "age_band", "gender",
        "joined_during", "entered_by", "answered_on",
    }  # fmt: skip
    for resident, polls in ((by_sms, (first, second)), (by_telegram, (first,))):
        who = await person_id(world, resident)
        identities = {str(who), resident.user, resident.user.lstrip("+")}
        for poll in polls:
            [row] = [r for r in await answers(world, poll) if r.channel == resident.channel]
            assert isinstance(row.answered_on, date) and not isinstance(row.answered_on, datetime)
            assert row.entered_by is None
            # Its key is the keyed hash of poll and person, which nothing without the key
            # recomputes: not the person id, chat id or phone, nor any plain hash of them.
            assert row.voter_key == ballots.voter_key(world.pseudonyms, poll.id, who)
            unkeyed = {
                hashlib.sha256(text.encode()).hexdigest()
                for text in (
                    *identities,
                    f"{ballots.VOTER}\x1f{poll.id}\x1f{who}",
                    f"{poll.id}:{who}",
                    f"{poll.id}{who}",
                )
            }
            values = {name: str(getattr(row, name)) for name in columns}
            # The row's own small numbers may equal a person id by chance; none other may.
            own = {"id", "poll_id", "village_id", "choices"}
            found = {n: v for n, v in values.items() if v in identities | unkeyed and n not in own}
            assert found == {}
            long_ones = {resident.user.lstrip("+"), resident.user[4:]}  # phone, chat id
            # The voter key is the keyed hash (checked above): its hex digits may hold a short
            # id's digits by chance.
            plain = [v for n, v in values.items() if n != "voter_key"]
            assert [v for v in plain if any(i in v for i in long_ones)] == []
    keys = {row.voter_key for p in (first, second) for row in await answers(world, p)}
    assert len(keys) == 3  # one per person and poll


async def test_forget_leaves_answers_counted_and_linked_to_nothing(world: World, say: Say) -> None:
    place = await fresh_place(world)
    [village] = await add_villages(world, place, "Орто")
    resident = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place)
    await mark_sent(world, poll, resident, timedelta(hours=1))
    await resident.press_data(f"poll:{poll.code}:3")
    await resident.press("Орто")
    who = await person_id(world, resident)

    await resident.send("/forget")
    assert await resident.press(say("en", "forget.yes")) == [say("en", "forget.done")]
    assert await person(world, who) is None
    async with world.db.session() as session:
        assert (
            await session.scalars(select(PollSend).where(PollSend.person_id == who))
        ).all() == []
        left = await session.scalars(
            select(ConversationRow).where(ConversationRow.person_id == who)
        )
        assert left.all() == []
    [row] = await answers(world, poll)
    assert (row.choices, row.village_id) == ("3", village.id)  # still counted, by village
    assert row.voter_key.startswith("forgotten:")

    # Someone new (on SQLite perhaps under the same row id) finds no answer of theirs.
    newcomer = await placed(world, "telegram", place, language="en")
    [shown] = await newcomer.send("/polls")
    assert say("en", "poll.not_answered") in shown
    replies = await newcomer.press_data(f"poll:{poll.code}:1")
    assert replies[0] == say("en", "poll.thanks", code=poll.code, choices="1. Жол (en)")
    assert sorted(row.choices for row in await answers(world, poll)) == ["1", "3"]
    assert utcnow() > poll.opens_at
