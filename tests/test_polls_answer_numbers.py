"""Numbers as residents type them and buttons send them: only ASCII digits are numbers.
"²" passes str.isdigit() and then int() raises, and so does a run of digits longer than
Python's 4300: each must be a plain "not a number", never a stack trace. By SMS at a closing
question and after СУРОО, by a crafted poll, pick or closing-question button, and a paper
ballot's village button (issue 29, review item 3)."""

from __future__ import annotations

import pytest

from handlers import ballots, polls
from tests.conftest import Civicbot, Say
from tests.conversation import World
from tests.digests import invite_code
from tests.test_campaigns import campaign
from tests.test_poll_results_conversation import THREE, a_poll
from tests.test_polls_answer import add_villages, answers, fresh_place, open_poll, placed, sms

LONG = "1" * 5000  # more digits than int() takes from a string


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands (a campaign) run on it."""
    return conversation_database_url


@pytest.mark.parametrize("text", ["²", "٣", "2", " 12 ", LONG, f"2 {LONG}", "2²"])
def test_only_ascii_digits_are_numbers(text: str) -> None:
    expected = int(text) if text.strip() in ("2", "12") else None
    assert ballots.number(text.strip()) == expected
    assert ballots.parse_choices(text) == ((expected,) if expected is not None else None)


async def test_odd_digits_by_sms_are_not_numbers(world: World) -> None:
    place = await fresh_place(world)
    await add_villages(world, place, "Ак-Таш")
    resident = await placed(world, "sms", place, language="en")
    poll = await open_poll(world, place)
    await resident.send(f"POLL {poll.code} 1")  # the village question follows

    assert await resident.send("²")  # not a number: handled as a text of its own
    refused = sms("en", "poll.not_numbers", code=poll.code, highest=3)
    for typed in ("²", LONG):
        [said] = await resident.send(f"POLL {poll.code} {typed}")
        assert said.startswith(refused)
    assert [row.choices for row in await answers(world, poll)] == ["1"]


async def test_crafted_poll_buttons_with_odd_digits_are_refused(world: World, say: Say) -> None:
    place = await fresh_place(world)
    await add_villages(world, place, "Кара-Жыгач")
    resident = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place)
    priority = await open_poll(world, place, ("A", "B"), kind="priority", max_choices=2)

    [refused] = await resident.press_data(polls.button(poll.code, "²"))
    assert refused == say("en", "poll.not_numbers", code=poll.code, highest=3)
    assert await resident.press_data("poll:²:1") == [say("en", "poll.unknown", code="²")]

    await resident.press_data(polls.button(priority.code, polls.PICK))
    nonce = resident.keyboard()[0][0][1].partition(":")[0]
    for value in ("done.²", f"t1.{LONG}", "t².0"):
        [stale] = await resident.press_data(f"{nonce}:{value}")
        assert stale  # a stale button's answer, not a stack trace
    assert await answers(world, priority) == []

    await resident.press_data(polls.button(poll.code, "1"))  # the village question
    nonce = resident.keyboard()[0][0][1].partition(":")[0]
    [stale] = await resident.press_data(f"{nonce}:²")
    assert stale
    [row] = await answers(world, poll)
    assert row.village_id is None


async def test_a_crafted_paper_ballot_village_button_is_refused(
    world: World, civicbot: Civicbot
) -> None:
    code = "DIGITS1"
    await campaign(civicbot, code)
    poll, _villages = await a_poll(world, THREE)
    volunteer = world.conversation("telegram", "ky")
    await volunteer.send("/start")
    await volunteer.press("Кыргызча")
    await volunteer.send(f"/join {await invite_code(civicbot, 'organizer', 'naryn_city')}")
    await volunteer.send(f"/card {code}")
    await volunteer.send(f"{poll.code} 2")

    payload = volunteer.keyboard()[0][0][1]  # nonce:v:BALLOT:VILLAGE
    ballot = payload.rsplit(":", 1)[0]
    nonce = payload.partition(":")[0]
    for crafted in (f"{ballot}:²", f"{nonce}:v:²:1", f"{ballot}:{LONG}"):
        assert await volunteer.press_data(crafted)  # the card prompt again
