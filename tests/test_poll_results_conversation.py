"""Polls' results at the conversation level (tests/conversation.py): paper ballots typed in
card mode, the final results and a budget round's outcome sent once to everyone who
answered (found by their keys, never by a stored link), and a funded item's progress. One
database per module and backend; each test has its own poll and people."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.runtime.i18n import Catalogues
from handlers import ballots, poll_results
from handlers.types import Text
from storage import queries
from storage.models import Notice, Person, Poll, PollAnswer, PollOption, Village, utcnow
from tests.conftest import Civicbot, Say
from tests.conversation import World
from tests.digests import invite_code
from tests.test_campaigns import campaign

_codes = itertools.count(1)


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands run on it."""
    return conversation_database_url


async def a_poll(
    world: World, options: Sequence[dict[str, object]], **fields: object
) -> tuple[Poll, list[Village]]:
    """An open poll of Naryn with the options given, and two villages of its own."""
    async with world.db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        n = next(_codes)
        villages = [
            await queries.add_village(session, place.id, {"ky": f"Айыл {n}-{k}"}, 1000 * k)
            for k in (1, 2)
        ]
        poll = await queries.add_poll(
            session,
            place.id,
            {"ky": "Эмнени биринчи кылабыз?", "ru": "Что делать первым?"},
            options,
            utcnow() + timedelta(days=2),
            status="open",
            opens_at=utcnow() - timedelta(hours=1),
            **fields,
        )
    return poll, villages


THREE = [{"label_ky": "Жол"}, {"label_ky": "Мектеп"}, {"label_ky": "Суу"}]


async def answers_of(world: World, poll: Poll) -> list[PollAnswer]:
    async with world.db.session() as session:
        query = select(PollAnswer).where(PollAnswer.poll_id == poll.id).order_by(PollAnswer.id)
        return list((await session.scalars(query)).all())


async def test_a_volunteer_types_paper_ballots_in_card_mode(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    code = f"BALLOT{next(_codes)}"
    await campaign(civicbot, code)
    poll, (first, second) = await a_poll(world, THREE)
    volunteer = world.conversation("telegram", "ky")
    await volunteer.send("/start")
    await volunteer.press("Кыргызча")
    await volunteer.send(f"/join {await invite_code(civicbot, 'organizer', 'naryn_city')}")
    await volunteer.send(f"/card {code}")

    [saved] = await volunteer.send(f"{poll.code} 2")
    no_village = say("ky", "poll_results.no_village")
    assert saved == say(
        "ky", "poll_results.ballot_saved", count=1, code=poll.code, choices="2", village=no_village
    )
    assert volunteer.buttons()[:2] == [
        f"{first.position}. {first.name_ky}",
        f"{second.position}. {second.name_ky}",
    ]
    [placed] = await volunteer.press(f"{second.position}. {second.name_ky}")
    assert placed == say("ky", "poll_results.ballot_village", count=1, village=second.name_ky)
    # The stand's village stays for the next ballot; the keyword form is taken too.
    [saved] = await volunteer.send(f"СУРОО {poll.code} 3")
    assert saved.startswith(
        say(
            "ky",
            "poll_results.ballot_saved",
            count=2,
            code=poll.code,
            choices="3",
            village=second.name_ky,
        )
    )
    # A single-choice poll takes one number: refused, said, and card mode goes on.
    [refused] = await volunteer.send(f"{poll.code} 1 3")
    assert refused.startswith(
        say("ky", "poll_results.ballot_refused", code=poll.code, max=1, options=3)
    )
    [saved] = await volunteer.send(f"{poll.code} 1")
    assert await volunteer.send("/undo") == [
        say("ky", "poll_results.ballot_undone", code=poll.code)
    ]
    # A card after a ballot is a card, and /undo then takes the card back.
    change, lighting = say("ky", "kind.change"), say("ky", "category.street_lighting")
    [card] = await volunteer.send("+ Көчөдө жарык жок")
    assert card.startswith(
        say("ky", "card.saved", count=1, kind=change, category=lighting, reference="")
    )
    reference = card.rsplit("№", 1)[1]
    assert await volunteer.send("/undo") == [say("ky", "card.undone", reference=reference)]

    async with world.db.session() as session:
        typist = await session.scalar(
            select(Person.id).where(Person.channel_user_id == volunteer.user)
        )
    stored = await answers_of(world, poll)
    assert [(a.choices, a.village_id) for a in stored] == [("2", second.id), ("3", second.id)]
    assert all(a.channel == "paper" and a.entered_by == typist for a in stored)
    assert all(a.voter_key.startswith(ballots.PAPER_PREFIX) for a in stored)
    async with world.db.session() as session:
        again = await queries.poll_by_id(session, poll.id)
        assert again is not None
        _, tally = await poll_results.tally_of(session, again)
    assert tally.paper == tally.total == 2 and tally.counts == (0, 1, 1)


async def test_a_closed_polls_ballot_is_not_taken(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    code = f"BALLOT{next(_codes)}"
    await campaign(civicbot, code)
    poll, _ = await a_poll(world, THREE)
    async with world.db.session() as session, session.begin():
        stored = await queries.poll_by_id(session, poll.id)
        assert stored is not None
        stored.status = "closed"
    volunteer = world.conversation("telegram", "ru")
    await volunteer.send("/start")
    await volunteer.press("Русский")
    await volunteer.send(f"/join {await invite_code(civicbot, 'organizer', 'naryn_city')}")
    await volunteer.send(f"/card {code}")
    [refused] = await volunteer.send(f"{poll.code} 2")
    assert refused.startswith(say("ru", "poll_results.ballot_not_open", code=poll.code))
    assert await answers_of(world, poll) == []
