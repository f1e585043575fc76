"""Staff clearing their inbox at the conversation level (tests/conversation.py): the card of a
wish one tap from the list, the next wish straight after an answer, ten a page, "◀ Back" to
the list the staff member was on, finding a wish by reference or words, and the same answer
never sent twice (the inbox, `/answer`, SMS `ЖООП`, two staff at once). A wish no one has
answered is "received" wherever it is shown. One database per module, a municipality of its
own per test (the inbox lists a whole municipality)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import pytest
from sqlalchemy import select, update

from handlers.types import Inbound
from storage.models import Notice, Person, Wish, WishAnswer, utcnow
from tests.conftest import Civicbot, Say
from tests.conversation import Conversation, World, fresh_user
from tests.digests import invite_code
from tests.places import category

_places = itertools.count(1)


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands run on it."""
    return conversation_database_url


class Staff(Conversation):
    """A staff member on Telegram whose every action (a command, a text sent, a button) is
    counted as one tap."""

    taps = 0

    async def _handle(self, inbound: Inbound) -> list[str]:
        self.taps += 1
        return await super()._handle(inbound)


async def fresh_place(civicbot: Civicbot) -> str:
    """A municipality no other test of the module writes to."""
    key = f"inbox_{next(_places)}"
    names = ("--name-ky", f"Айыл {key}", "--name-ru", f"Село {key}", "--name-en", key)
    rc, _, err = await civicbot("municipality", "add", key, "--region", "naryn", *names)
    assert rc == 0, err
    return key


async def official(
    world: World, civicbot: Civicbot, place: str, role: str = "staff", language: str = "en"
) -> Staff:
    person = Staff(world, "telegram", str(fresh_user()), language)
    await person.send(f"/start inv-{await invite_code(civicbot, role, place)}")
    person.taps = 0
    return person


async def resident_with_wish(
    world: World, place: str, text: str, language: str = "ky", topic: str = "street_lighting"
) -> tuple[Conversation, list[str]]:
    """A Telegram resident of the place who left one wish to change; what they were told."""
    resident = world.conversation("telegram", language)
    await resident.send(f"/start m-{place}")
    await resident.send("/change")
    await resident.press(category(topic)[language])
    return resident, await resident.send(text)


async def reference_of(world: World, text: str) -> str:
    async with world.db.session() as session:
        reference = await session.scalar(select(Wish.reference).where(Wish.text == text))
    assert reference is not None, text
    return reference


async def notices_to(world: World, resident: Conversation) -> list[str]:
    """The keys of the notices written for a resident (sent after the commit)."""
    async with world.db.session() as session:
        keys = await session.scalars(
            select(Notice.key)
            .join(Person, Person.id == Notice.person_id)
            .where(Person.channel == resident.channel, Person.channel_user_id == resident.user)
            .order_by(Notice.id)
        )
        return list(keys)


def header(say: Say, total: int, pages: int, status: str, topic: str = "", page: int = 1) -> str:
    """The first line of an inbox page in English; a status or topic "" for any."""
    shown = say("en", f"inbox.status.{status}") if status else say("en", "inbox.any_status")
    named = say("en", f"category.{topic}") if topic else say("en", "inbox.any_topic")
    return say("en", "inbox.header", total=total, page=page, pages=pages, status=shown, topic=named)


async def test_clearing_a_list_takes_two_taps_a_wish_and_each_resident_hears_once(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    residents = [
        (await resident_with_wish(world, place, f"Көчөдө жарык жок {n}"))[0] for n in range(12)
    ]
    newest_first = [await reference_of(world, f"Көчөдө жарык жок {n}") for n in reversed(range(12))]
    staff = await official(world, civicbot, place)
    await staff.send("/inbox")
    [second] = await staff.press("▶")
    assert second.startswith(header(say, total=12, pages=2, status="received", page=2))
    assert staff.buttons()[:3] == [*newest_first[10:], "◀"]

    staff.taps = 0
    [page] = await staff.send("/inbox")  # the wishes no one has answered yet, ten a page
    assert page.startswith(header(say, total=12, pages=2, status="received"))
    assert staff.buttons()[:11] == [*newest_first[:10], "▶"]
    [card] = await staff.press(newest_first[0])  # the card, its status buttons with it
    assert card.startswith(newest_first[0])
    answered = []
    for number in range(12):
        given = "done" if number % 2 else "in_progress"
        assert await staff.press(say("en", f"status.{given}")) == [
            say("en", "inbox.answer_prompt", status=say("en", f"status.{given}"), limit=500)
        ]
        [said] = await staff.send(f"Answer {number}")
        reference = said.split(":")[0]
        saved = say("en", "answer.saved", reference=reference, status=say("en", f"status.{given}"))
        assert said.startswith(saved)
        answered.append(reference)
        if number < 11:  # straight on to the next wish's card
            assert said.removeprefix(saved).lstrip().startswith(newest_first[number + 1])
            assert say("en", "status.done") in staff.buttons()
    assert said.endswith(say("en", "inbox.empty"))
    assert say("en", "inbox.none_left") in said
    assert answered == newest_first
    # /inbox, the first wish, then a status and the words for each: 2 + 2 × 12.
    assert staff.taps == 2 + 2 * 12
    for resident in residents:
        assert await notices_to(world, resident) == ["answer.notice"]


async def test_back_after_an_answer_returns_to_the_list_the_staff_member_was_on(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    wishes = (("Жол бузук", "roads"), ("Таштанды көп", "garbage"), ("Көпүрө жок", "roads"))
    for text, topic in wishes:
        await resident_with_wish(world, place, text, topic=topic)
    first, second = [await reference_of(world, t) for t in ("Көпүрө жок", "Жол бузук")]
    staff = await official(world, civicbot, place)
    await staff.send("/inbox")
    await staff.press(say("en", "inbox.filter_topic"))
    [roads] = await staff.press(say("en", "category.roads"))
    assert roads.startswith(header(say, total=2, pages=1, status="received", topic="roads"))
    await staff.press(first)
    await staff.press(say("en", "status.done"))
    [said] = await staff.send("Салынды")
    assert said.split("\n\n")[1].startswith(second)  # the next wish, not this one again
    [back] = await staff.press(say("en", "inbox.back"))
    # The list the staff member chose (received, roads), not the status just given.
    assert back.startswith(header(say, total=1, pages=1, status="received", topic="roads"))
    assert staff.buttons()[0] == second
    # A card's "Next" moves on without answering; past the end the list starts again.
    await staff.press(second)
    [again] = await staff.press(say("en", "inbox.next_button"))
    assert again.startswith(say("en", "inbox.none_left"))


async def test_inbox_finds_a_wish_by_its_reference_or_by_its_words(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place, other = await fresh_place(civicbot), await fresh_place(civicbot)
    texts = ("Көчөдө жарык жок", "Жарык өчүп калды", "МЕКТЕПТЕ ЖАРЫК ЖОК", "Жол начар")
    for text in texts:
        await resident_with_wish(world, place, text)
    await resident_with_wish(world, other, "Бизде да жарык жок")
    references = {text: await reference_of(world, text) for text in texts}
    staff = await official(world, civicbot, place)

    [card] = await staff.send(f"/inbox {references['Жол начар']}")
    assert card.startswith(references["Жол начар"]) and "Жол начар" in card
    assert say("en", "status.done") in staff.buttons()
    [back] = await staff.press(say("en", "inbox.back"))
    assert back.startswith(header(say, total=4, pages=1, status="received"))

    [found] = await staff.send("/inbox жарык")
    assert found.startswith(header(say, total=3, pages=1, status=""))
    assert say("en", "inbox.search", words="жарык") in found
    assert sorted(staff.buttons()[:3]) == sorted(references[t] for t in texts[:3])
    assert "Жол начар" not in found and "Бизде" not in found  # other words, another place
    [both] = await staff.send("/inbox жарык жок")
    assert both.startswith(header(say, total=2, pages=1, status=""))
    # LIKE's wildcards are only letters here; another place's reference finds nothing.
    for nothing in ("%", "_", await reference_of(world, "Бизде да жарык жок")):
        [empty] = await staff.send(f"/inbox {nothing}")
        assert empty.endswith(say("en", "inbox.empty")), nothing
    deputy = await official(world, civicbot, place, role="deputy")
    [read] = await deputy.send(f"/inbox {references['Жарык өчүп калды']}")
    assert say("en", "inbox.read_only") in read


async def test_the_same_answer_is_not_sent_twice_whoever_gives_it_and_however(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    people = {
        text: (await resident_with_wish(world, place, text))[0]
        for text in ("Суу жок", "Жарык жок", "Жарык дагы жок")
    }
    water, light, again = [await reference_of(world, text) for text in people]
    by_sms = world.conversation("sms", "ky")
    await by_sms.send(f"КОШУЛ {await invite_code(civicbot, 'staff', place)}")
    first, second = [await official(world, civicbot, place) for _ in range(2)]
    done_ky = say("ky", "status.done")

    # By SMS, sent twice (no answer seen), then with other spaces and capitals.
    saved = say("ky", "sms.answer.saved", reference=water, status=done_ky)
    assert await by_sms.send(f"ЖООП {water} 3 Суу берилди") == [saved]
    repeated = say("ky", "sms.answer.repeated", reference=water, status=done_ky)
    assert await by_sms.send(f"ЖООП {water} 3 Суу берилди") == [repeated]
    assert await by_sms.send(f"жооп {water} АТКАРЫЛДЫ  суу БЕРИЛДИ") == [repeated]
    # The same from Telegram's /answer; other words are another answer, and go.
    done_en = say("en", "status.done")
    assert await first.send(f"/answer {water} done Суу берилди") == [
        say("en", "answer.repeated", reference=water, status=done_en)
    ]
    assert await first.send(f"/answer {water} done Суу кайра берилди") == [
        say("en", "answer.saved", reference=water, status=done_en)
    ]
    assert await notices_to(world, people["Суу жок"]) == ["answer.notice"] * 2

    # Two staff members give one wish the same answer at once: the wish's version lets one
    # through; the other is rolled back (on PostgreSQL), handled once more, and finds it.
    for member in (first, second):
        await member.send(f"/inbox {light}")
        await member.press(done_en)
    results = await asyncio.gather(
        first.send("Лампа алмаштырылды"), second.send("Лампа алмаштырылды")
    )
    replies = [result[0] for result in results]
    said = sorted(reply.split("\n")[0] for reply in replies)
    assert said == sorted(
        [
            say("en", "answer.saved", reference=light, status=done_en).split("\n")[0],
            say("en", "answer.repeated", reference=light, status=done_en),
        ]
    )
    assert await notices_to(world, people["Жарык жок"]) == ["answer.notice"]
    async with world.db.session() as session:
        kept = await session.scalars(
            select(WishAnswer.text).join(Wish).where(Wish.reference == light)
        )
        assert list(kept) == ["Лампа алмаштырылды"]

    # A duplicate marked twice tells its resident once.
    marked = say("ky", "sms.answer.duplicate_saved", reference=again, of=light)
    assert await by_sms.send(f"ЖООП {again} 5 {light}") == [marked]
    assert await by_sms.send(f"ЖООП {again} 5 {light}") == [marked]
    assert await notices_to(world, people["Жарык дагы жок"]) == ["answer.duplicate_notice"]

    # Past the window the same words are a new answer (asked again, say): they go.
    async with world.db.session() as session, session.begin():
        wish_id = select(Wish.id).where(Wish.reference == water).scalar_subquery()
        earlier = utcnow() - dt.timedelta(minutes=15)
        await session.execute(
            update(WishAnswer).where(WishAnswer.wish_id == wish_id).values(created_at=earlier)
        )
    assert await first.send(f"/answer {water} done Суу кайра берилди") == [
        say("en", "answer.saved", reference=water, status=done_en)
    ]
    assert await notices_to(world, people["Суу жок"]) == ["answer.notice"] * 3


async def test_a_wish_no_one_has_answered_is_received_until_staff_give_it_a_status(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    for language in ("ky", "ru", "en"):
        _, [told] = await resident_with_wish(world, place, f"Wish in {language}", language)
        assert say(language, "status.received") in told.splitlines()[0]
        assert say(language, "status.accepted") not in told
    resident = world.conversation("telegram", "ky")
    await resident.send(f"/start m-{place}")
    await resident.send("/change")
    await resident.press(category("roads")["ky"])
    await resident.send("Жол оңдолушу керек")
    by_sms = world.conversation("sms", "ru")
    await by_sms.send(f"МЕСТО {place}")
    [told] = await by_sms.send("ИЗМЕНИТЬ Нет воды на улице")
    assert say("ru", "status.received") in told
    road = await reference_of(world, "Жол оңдолушу керек")
    water = await reference_of(world, "Нет воды на улице")

    [mine] = await resident.send("/mine")
    assert say("ky", "status.received") in mine and say("ky", "status.accepted") not in mine
    [mine_sms] = await by_sms.send("МОИ")
    assert f"{water} {say('ru', 'status.received')}" in mine_sms
    staff = await official(world, civicbot, place)
    [page] = await staff.send("/inbox")
    assert say("en", "status.received") in page and say("en", "status.accepted") not in page
    await staff.send(f"/answer {road} accepted")
    [mine] = await resident.send("/mine")
    assert say("ky", "status.accepted") in mine and say("ky", "status.received") not in mine
    # The accepted one has left the "received" list; the filter "accepted" has it alone.
    await staff.send("/inbox")
    assert road not in staff.buttons() and water in staff.buttons()
    await staff.press(say("en", "inbox.filter_status"))
    [accepted] = await staff.press(say("en", "inbox.status.accepted"))
    assert accepted.startswith(header(say, total=1, pages=1, status="accepted"))
    assert staff.buttons()[0] == road
