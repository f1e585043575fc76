"""Residents answering polls at the conversation level (tests/conversation.py): /polls and
buttons on Telegram and the web chat, СУРОО / ОПРОС / POLL by SMS (Twilio's and the Android
gateway's parsing) and WhatsApp, the number alone after a poll was sent, several numbers
for a priority vote and a budget round, the item-by-item pick, every refusal, the flood
limit. One database per module and backend; each test a place and polls of its own.
Privacy, /forget and the closing questions: tests/test_polls_answer_profile.py."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.runtime.i18n import Catalogues
from handlers import ballots, polls, wishes
from handlers.onboarding import LANGUAGE_NAMES
from handlers.types import Text
from storage import queries
from storage.models import Municipality, Poll, PollAnswer, PollSend, Village, utcnow
from tests.conftest import Say
from tests.conversation import Conversation, World, fresh_number

_places = itertools.count(0)
SMS = Catalogues()


def sms(language: str, key: str, **values: Any) -> str:
    return SMS.text(language, Text(key, values), variant="sms")


def said(language: str, *parts: tuple[str, dict[str, Any]]) -> str:
    """One SMS of several messages, as the channel joins them."""
    return " ".join(sms(language, key, **values) for key, values in parts)


async def fresh_place(world: World) -> Municipality:
    """A municipality no other test of the module uses (its polls are the test's own)."""
    async with world.db.session() as session:
        every = await queries.all_municipalities(session)
    return every[next(_places) * 7 % len(every)]


async def open_poll(
    world: World,
    place: Municipality,
    labels: Sequence[str] = ("Жол", "Суу", "Мектеп"),
    costs: Sequence[int] | None = None,
    **fields: Any,
) -> Poll:
    """An open poll of the place (single choice unless `kind` says), open for a week."""
    options = [
        {"label_ky": label, "label_ru": label + " (ru)", "label_en": label + " (en)"}
        | ({"cost": costs[n]} if costs else {})
        for n, label in enumerate(labels)
    ]
    question = {"ky": "Эмнени оңдойлу?", "ru": "Что чинить?", "en": "What to fix?"}
    defaults: dict[str, Any] = {"status": "open", "closes_at": utcnow() + timedelta(days=7)}
    values = defaults | fields
    closes_at = values.pop("closes_at")

    async def add(session: Any) -> Poll:
        return await queries.add_poll(session, place.id, question, options, closes_at, **values)

    return await world.db.write(add)


async def add_villages(world: World, place: Municipality, *names: str) -> list[Village]:
    async def add(session: Any) -> list[Village]:
        return [await queries.add_village(session, place.id, {"ky": name}) for name in names]

    return await world.db.write(add)


async def answers(world: World, poll: Poll) -> list[PollAnswer]:
    async with world.db.session() as session:
        found = await session.scalars(
            select(PollAnswer).where(PollAnswer.poll_id == poll.id).order_by(PollAnswer.id)
        )
        return list(found.all())


async def person_id(world: World, resident: Conversation) -> int:
    state = await resident.state()
    assert state is not None
    return state.person_id


async def mark_sent(world: World, poll: Poll, resident: Conversation, ago: timedelta) -> None:
    """The poll went to this resident (what the sending side records)."""
    who = await person_id(world, resident)

    async def add(session: Any) -> None:
        session.add(
            PollSend(
                poll_id=poll.id,
                person_id=who,
                channel=resident.channel,
                status="sent",
                sent_at=utcnow() - ago,
            )
        )

    await world.db.write(add)


PLACE_KEYWORDS = {"ky": "ЖЕР", "ru": "МЕСТО", "en": "PLACE"}


async def placed(
    world: World, channel: str, place: Municipality, language: str = "ky", **options: Any
) -> Conversation:
    """A resident of the place on the channel, with nothing under way (by SMS, in the
    language of the keyword they set their place with)."""
    resident = world.conversation(channel, language, **options)
    if channel == "sms":
        await resident.send(f"{PLACE_KEYWORDS[language]} {place.code}")
    else:
        await resident.send(f"/start m-{place.key}")
        await resident.press(LANGUAGE_NAMES[language])  # the language question, answered
    state = await resident.state()
    assert state is not None and state.step is None
    return resident


# --- Telegram and the web chat -----------------------------------------------------------


@pytest.mark.parametrize("channel", ["telegram", "web"])
async def test_polls_are_listed_and_answered_by_button_and_changed(
    world: World, say: Say, channel: str
) -> None:
    place = await fresh_place(world)
    resident = await placed(world, channel, place, language="ru")
    poll = await open_poll(world, place)
    [shown] = await resident.send("/polls")
    assert "Что чинить?" in shown and poll.code in shown
    assert say("ru", "poll.not_answered") in shown
    assert resident.buttons() == ["1. Жол (ru)", "2. Суу (ru)", "3. Мектеп (ru)"]

    first = await resident.press("2. Суу (ru)")
    assert first[0] == say("ru", "poll.thanks", code=poll.code, choices="2. Суу (ru)")
    again = await resident.press_data(polls.button(poll.code, "3"))
    assert again[0] == say("ru", "poll.changed", code=poll.code, choices="3. Мектеп (ru)")
    [row] = await answers(world, poll)
    assert (row.choices, row.channel, row.joined_during) == ("3", channel, False)

    [shown] = await resident.send("/polls")
    assert say("ru", "poll.answered", choices="3. Мектеп (ru)") in shown
    assert "✓ 3. Мектеп (ru)" in resident.buttons()


async def test_a_poll_shown_names_the_last_day_answers_are_taken(world: World) -> None:
    """A poll closing at the midnight that starts December 21 in Bishkek is answered all of
    December 20, and /polls says so (not the 21st, nor a time of day)."""
    place = await fresh_place(world)
    resident = await placed(world, "telegram", place, language="en")
    midnight = datetime(2099, 12, 21, tzinfo=ZoneInfo("Asia/Bishkek"))
    await open_poll(world, place, closes_at=midnight.astimezone(UTC))
    [shown] = await resident.send("/polls")
    assert "until December 20, 2099." in shown.replace("\u202f", " "), shown
    assert "December 21" not in shown and "00:00" not in shown


async def test_a_poll_button_leaves_the_flow_under_way_as_it_was(world: World, say: Say) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place)
    await resident.send("/change")
    topics = resident.buttons()
    replies = await resident.press_data(polls.button(poll.code, "1"))
    assert replies[0] == say("en", "poll.thanks", code=poll.code, choices="1. Жол (en)")
    assert resident.buttons() == topics  # the topic question again, its buttons still good
    state = await resident.state()
    assert state is not None and state.step == wishes.CATEGORY
    await resident.press(topics[0])
    state = await resident.state()
    assert state is not None and state.step == wishes.TEXT


async def test_no_place_yet_asks_it_then_shows_the_poll_pressed(world: World, say: Say) -> None:
    place = await fresh_place(world)
    poll = await open_poll(world, place)
    resident = world.conversation("telegram", "en")
    await resident.send("/start")
    await resident.send("/cancel")
    [asked] = await resident.press_data(polls.button(poll.code, "2"))
    assert asked.startswith(say("en", "poll.place_first"))
    await resident.send(place.name("en"))  # the place typed, as at any place question
    [button] = [b for b in resident.buttons() if b.startswith(f"{place.name('en')} (")]
    [shown] = await resident.press(button)
    assert shown.startswith(say("en", "place.set", place=place.name("en")))
    assert "What to fix?" in shown and resident.buttons()[1] == "2. Суу (en)"
    assert await answers(world, poll) == []  # the choice was not kept beside them meanwhile
    await resident.press("2. Суу (en)")
    assert [row.choices for row in await answers(world, poll)] == ["2"]


async def test_someone_from_elsewhere_closed_and_unknown_polls(world: World, say: Say) -> None:
    place, elsewhere = await fresh_place(world), await fresh_place(world)
    resident = await placed(world, "telegram", elsewhere, language="en")
    poll = await open_poll(world, place)
    other = await resident.press_data(polls.button(poll.code, "1"))
    assert other[0] == say("en", "poll.other_place", code=poll.code, place=place.name("en"))
    closed = await open_poll(world, elsewhere, status="closed")
    assert (await resident.press_data(polls.button(closed.code, "1")))[0] == say(
        "en", "poll.closed", code=closed.code
    )
    later = await open_poll(world, elsewhere, opens_at=utcnow() + timedelta(days=1))
    assert (await resident.send(f"/polls {later.code} 1"))[0] == say(
        "en", "poll.not_open", code=later.code
    )
    draft = await open_poll(world, elsewhere, status="draft")
    assert (await resident.send(f"/polls {draft.code} 1"))[0] == say(
        "en", "poll.unknown", code=draft.code
    )
    assert await answers(world, poll) == await answers(world, closed) == []
    [listed] = await resident.send("/polls")
    assert listed == say("en", "poll.none", place=elsewhere.name("en"))


async def test_a_budget_round_is_picked_item_by_item_within_the_sum(world: World, say: Say) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "web", place, language="en")
    poll = await open_poll(
        world,
        place,
        ("Road", "Lamp", "Park"),
        costs=[600_000, 300_000, 200_000],
        kind="budget",
        max_choices=3,
        budget_total=1_000_000,
    )
    await resident.send("/polls")
    [prompt] = await resident.press(say("en", "poll.pick_button"))
    assert "left: 1 000 000 som" in prompt
    await resident.press("1. Road (en) — 600 000")
    [prompt] = await resident.press("2. Lamp (en) — 300 000")
    assert "left: 100 000 som" in prompt
    [refused] = await resident.press("3. Park (en) — 200 000")
    no_room = say("en", "poll.pick_no_room", item="Park (en)", cost="200 000", left="100 000")
    assert refused.startswith(no_room)
    await resident.press("✓ 1. Road (en) — 600 000")  # un-chosen: room again
    await resident.press("3. Park (en) — 200 000")
    [done, *_] = await resident.press(say("en", "poll.pick_done"))
    assert done == say("en", "poll.thanks", code=poll.code, choices="2. Lamp (en); 3. Park (en)")
    assert [row.choices for row in await answers(world, poll)] == ["2 3"]


async def test_a_priority_vote_takes_up_to_its_most_and_needs_one(world: World, say: Say) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place, ("A", "B", "C", "D"), kind="priority", max_choices=2)
    [pick] = await resident.press_data(polls.button(poll.code, polls.PICK))
    assert "Chosen: 0, at most: 2" in pick
    [none] = await resident.press(say("en", "poll.pick_done"))
    assert none.startswith(say("en", "poll.pick_none"))
    await resident.press("1. A (en)")
    await resident.press("4. D (en)")
    [refused] = await resident.press("2. B (en)")
    assert refused.startswith(say("en", "poll.pick_too_many", most=2))
    # What is chosen so far is in the buttons only: nothing of it beside the person.
    state = await resident.state()
    assert state is not None and state.data == {"poll": poll.code}
    await resident.press(say("en", "poll.pick_done"))
    assert [row.choices for row in await answers(world, poll)] == ["1 4"]
    # Opened again, the pick starts from the answer given.
    [again] = await resident.press_data(polls.button(poll.code, polls.PICK))
    assert "Chosen: 2" in again and "✓ 1. A (en)" in resident.buttons()


# --- SMS and WhatsApp ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider,user_prefix", [("twilio", ""), ("android", ""), ("twilio", "whatsapp:")]
)
async def test_sms_keyword_answers_in_any_language_and_case(
    world: World, provider: str, user_prefix: str
) -> None:
    place = await fresh_place(world)
    user = user_prefix + fresh_number()
    resident = await placed(world, "sms", place, provider=provider, user=user)
    poll = await open_poll(world, place)
    code = poll.code
    thanks = ("poll.thanks", {"code": code, "choices": "2"})
    assert await resident.send(f"суроо {code} 2") == [said("ky", thanks, ("poll.ask_age", {}))]
    assert await resident.send(f"ОПРОС {code} 3") == [
        sms("ru", "poll.changed", code=code, choices="3")
    ]
    assert await resident.send(f"poll {code} 1") == [
        sms("en", "poll.changed", code=code, choices="1")
    ]
    [row] = await answers(world, poll)
    channel = "whatsapp" if user_prefix else "sms"
    assert (row.choices, row.channel) == ("1", channel)


async def test_sms_refusals_say_why_and_keep_the_answer_given(world: World) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="en")
    poll = await open_poll(world, place, ("A", "B", "C", "D", "E"), kind="priority", max_choices=3)
    code = poll.code
    thanks = ("poll.thanks", {"code": code, "choices": "2 5"})
    assert await resident.send(f"POLL {code} 2 5") == [said("en", thanks, ("poll.ask_age", {}))]
    kept = ("poll.kept", {"choices": "2 5"})
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        f"POLL {code} 2 5 1 4": ("poll.too_many", {"code": code, "most": 3}),
        f"POLL {code} 2 2": ("poll.repeated", {"code": code}),
        f"POLL {code} 9": ("poll.out_of_range", {"code": code, "highest": 5}),
        f"POLL {code} two": ("poll.not_numbers", {"code": code, "highest": 5}),
    }
    for body, problem in cases.items():
        assert await resident.send(body) == [said("en", problem, kept)], body
    assert await resident.send("POLL 99999999 1") == [sms("en", "poll.unknown", code="99999999")]
    assert await resident.send("POLL abc") == [sms("en", "poll.usage")]
    assert [row.choices for row in await answers(world, poll)] == ["2 5"]


async def test_sms_budget_round_takes_items_that_fit(world: World) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="ru")
    poll = await open_poll(
        world, place, ("A", "B", "C"), costs=[500, 400, 300], kind="budget", max_choices=3,
        budget_total=800,
    )  # fmt: skip
    code = poll.code
    over = ("poll.over_budget", {"code": code, "spent": "900", "budget": "800"})
    assert await resident.send(f"ОПРОС {code} 1 2") == [said("ru", over)]
    thanks = ("poll.thanks", {"code": code, "choices": "1 3"})
    assert await resident.send(f"ОПРОС {code} 1, 3") == [said("ru", thanks, ("poll.ask_age", {}))]


async def test_sms_lists_polls_or_shows_the_only_one(world: World) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="ky")
    first = await open_poll(world, place, ("Ооба", "Жок"))
    [one] = await resident.send("СУРОО")
    assert one == sms(
        "ky", "poll.question_single", code=first.code, question="Эмнени оңдойлу?",
        options="1 Ооба, 2 Жок",
    )  # fmt: skip
    second = await open_poll(world, place, closes_at=utcnow() + timedelta(days=3))
    [listed] = await resident.send("СУРОО")
    polls_listed = f"{second.code} Эмнени оңдойлу?; {first.code} Эмнени оңдойлу?"
    assert listed == sms("ky", "poll.list", polls=polls_listed)
    [shown] = await resident.send(f"СУРОО {second.code}")
    assert shown.startswith(f"{second.code}: Эмнени оңдойлу? 1 Жол, 2 Суу, 3 Мектеп")
    nowhere = world.conversation("sms")
    assert await nowhere.send("СУРОО") == [sms("ky", "poll.place_first")]


async def test_the_number_alone_answers_the_poll_last_sent(world: World) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="en")
    older = await open_poll(world, place)
    newer = await open_poll(world, place)
    closed = await open_poll(world, place, status="closed")
    # Nothing sent yet: a bare number is not a wish, and not a poll's answer.
    assert await resident.send("2") == [sms("en", "help.text")]
    await mark_sent(world, older, resident, timedelta(hours=3))
    await mark_sent(world, newer, resident, timedelta(hours=1))
    await mark_sent(world, closed, resident, timedelta(minutes=1))  # no longer answering
    thanks = ("poll.thanks", {"code": newer.code, "choices": "2"})
    assert await resident.send("2") == [said("en", thanks, ("poll.ask_age", {}))]
    assert await answers(world, older) == []
    # A question that itself takes a number has it first: the text's "save it as a wish?".
    await resident.send("The street light is broken again")
    [saved] = await resident.send("1")
    assert saved.startswith(sms("en", "wish.saved", reference="")[:10])
    assert [row.choices for row in await answers(world, newer)] == ["2"]


async def test_answers_over_the_hour_s_limit_are_not_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polls, "ANSWERS_PER_HOUR", 2)
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="en")
    poll = await open_poll(world, place)
    await resident.send(f"POLL {poll.code} 1")
    await resident.send(f"POLL {poll.code} 2")
    assert await resident.send(f"POLL {poll.code} 3") == [sms("en", "poll.flood", limit=2)]
    assert await resident.send(f"POLL {poll.code} 3") == []  # then nothing said
    assert [row.choices for row in await answers(world, poll)] == ["2"]


def test_a_poll_button_fits_telegram_s_callback_data() -> None:
    assert len(polls.button("9" * 16, polls.PICK).encode()) <= 64
    assert ballots.parse_choices("2, 5 7") == (2, 5, 7)


async def test_an_answer_that_reaches_the_database_after_the_close_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler looked just before the closing time, and the write comes after it (or
    after the close was tallied): the write itself refuses, and says the poll is closed."""
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="en")
    poll = await open_poll(world, place, opens_at=utcnow() - timedelta(days=1), closes_at=utcnow())
    monkeypatch.setattr(Poll, "answering", lambda self, now: True)  # the look before
    assert await resident.send(f"POLL {poll.code} 2") == [sms("en", "poll.closed", code=poll.code)]
    assert await answers(world, poll) == []
