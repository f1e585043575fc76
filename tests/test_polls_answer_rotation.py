"""A poll answer survives a SECRET_KEY rotation (docs/operations.md): while both keys are
known, the answer given under the old one is found (shown, changed, described, unlinked by
/forget), and a new answer moves it to the new key instead of adding a second; `civicbot
secret rotate` (bot/commands/rotation.py) moves the others, so that nothing is lost once the
old key is dropped. Issue 29, review item 2."""

from __future__ import annotations

from typing import Any

from bot.commands import rotation
from handlers import ballots
from handlers.pseudonyms import Pseudonyms
from storage import queries
from storage.models import utcnow
from tests.conftest import SECRET_KEY, Say
from tests.conversation import World
from tests.test_polls_answer import add_villages, answers, fresh_place, open_poll, person_id, placed

NEW_KEY = "new-test-key-of-at-least-32-characters"
ROTATING = Pseudonyms.from_keys((NEW_KEY, SECRET_KEY))  # step 2: the new key, the old known
ROTATED = Pseudonyms.from_keys((NEW_KEY,))  # step 4: the old key dropped


async def test_an_answer_is_changed_not_doubled_after_the_key_changed(
    world: World, say: Say
) -> None:
    place = await fresh_place(world)
    [village] = await add_villages(world, place, "Жаңы-Жер")
    resident = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place)
    await resident.press_data(f"poll:{poll.code}:1")  # the village question follows

    world.pseudonyms = ROTATING
    await resident.press("Жаңы-Жер")  # copied into the answer given under the old key
    [shown] = await resident.send("/polls")
    assert say("en", "poll.answered", choices="1. Жол (en)") in shown
    [changed] = await resident.press_data(f"poll:{poll.code}:2")
    assert changed == say("en", "poll.changed", code=poll.code, choices="2. Суу (en)")

    [row] = await answers(world, poll)
    who = await person_id(world, resident)
    assert (row.choices, row.village_id) == ("2", village.id)
    assert row.voter_key == ballots.voter_key(ROTATED, poll.id, who)


async def test_forget_during_a_rotation_unlinks_the_old_keys_answer(world: World, say: Say) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place)
    await resident.press_data(f"poll:{poll.code}:3")

    world.pseudonyms = ROTATING
    await resident.send("/forget")
    assert await resident.press(say("en", "forget.yes")) == [say("en", "forget.done")]
    [row] = await answers(world, poll)
    assert (row.choices, row.voter_key) == ("3", f"forgotten:{row.id}")


async def test_rotate_moves_answers_to_the_new_key(world: World, say: Say) -> None:
    place = await fresh_place(world)
    resident = await placed(world, "sms", place, language="en")
    other = await placed(world, "telegram", place, language="en")
    poll = await open_poll(world, place)
    await resident.send(f"POLL {poll.code} 1")
    await other.press_data(f"poll:{poll.code}:2")
    paper = ballots.paper_key()

    async def add_paper(session: Any) -> None:
        await queries.record_answer(session, poll.id, paper, (3,), utcnow().date(), channel="paper")

    await world.db.write(add_paper)

    assert await rotation.rekey(world.db, ROTATING) == 0  # `secret rotate`: no signatures
    assert await rotation.rekey_answers(world.db, ROTATING) == 0  # all moved; safe again
    who = {await person_id(world, r) for r in (resident, other)}
    expected = {ballots.voter_key(ROTATED, poll.id, n) for n in who} | {paper}
    assert {row.voter_key for row in await answers(world, poll)} == expected

    world.pseudonyms = ROTATED  # the old key dropped: the answer is still theirs
    [changed, *_the_question_under_way] = await other.press_data(f"poll:{poll.code}:3")
    assert changed == say("en", "poll.changed", code=poll.code, choices="3. Мектеп (en)")
    assert sorted(row.choices for row in await answers(world, poll)) == ["1", "3", "3"]
