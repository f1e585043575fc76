"""Polls' results at the conversation level (tests/conversation.py): paper ballots typed in
card mode, the final results and a budget round's outcome sent once to everyone who
answered (found by their keys, never by a stored link), and a funded item's progress. One
database per module and backend; each test has its own poll and people."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.runtime.i18n import Catalogues
from handlers import ballots, poll_outcome, poll_results
from handlers.types import Text
from storage import queries
from storage.models import Notice, Person, Poll, PollAnswer, Village, utcnow
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
    world: World, options: Sequence[Mapping[str, object]], **fields: object
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


async def test_a_closed_polls_ballots_are_typed_until_its_results_are_out(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    code = f"BALLOT{next(_codes)}"
    await campaign(civicbot, code)
    poll, (first, _) = await a_poll(world, THREE)
    [voter] = await people(world, ("telegram", "ru"))
    await answer(world, poll, voter, [1], channel="telegram")
    await poll_outcome.send_due(world.db, world.pseudonyms, utcnow())  # other tests' polls
    await close(world, poll)
    volunteer = world.conversation("telegram", "ru")
    await volunteer.send("/start")
    await volunteer.press("Русский")
    await volunteer.send(f"/join {await invite_code(civicbot, 'organizer', 'naryn_city')}")
    await volunteer.send(f"/card {code}")
    # Collected on the last day, typed after the close: counted, as the results are not out.
    [saved] = await volunteer.send(f"{poll.code} 2")
    nowhere = say("ru", "poll_results.no_village")
    saved_one = say(
        "ru", "poll_results.ballot_saved", count=1, code=poll.code, choices="2", village=nowhere
    )
    assert saved.startswith(saved_one)
    assert await poll_outcome.send_due(world.db, world.pseudonyms, utcnow()) == 1
    [told] = await notices_to(world, [voter])
    assert told.values["total"] == 2  # the paper ballot is in the results
    # Once they are out, the ballot stays as counted and no other is added.
    counted = say("ru", "poll_results.ballot_counted", code=poll.code)
    assert await volunteer.press(f"{first.position}. {first.name_ky}") == [counted]
    assert await volunteer.send("/undo") == [counted]
    [refused] = await volunteer.send(f"{poll.code} 3")
    assert refused.startswith(say("ru", "poll_results.ballot_results_out", code=poll.code))
    assert [(a.choices, a.village_id) for a in await answers_of(world, poll)][1:] == [("2", None)]


async def test_a_poll_not_yet_open_takes_no_ballot(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    code = f"BALLOT{next(_codes)}"
    await campaign(civicbot, code)
    poll, _ = await a_poll(world, THREE)
    async with world.db.session() as session, session.begin():
        stored = await queries.poll_by_id(session, poll.id)
        assert stored is not None
        stored.opens_at = utcnow() + timedelta(days=1)  # past its close, even: never opened
        stored.status, stored.closes_at = "closed", utcnow() - timedelta(hours=1)
    volunteer = world.conversation("telegram", "ru")
    await volunteer.send("/start")
    await volunteer.press("Русский")
    await volunteer.send(f"/join {await invite_code(civicbot, 'organizer', 'naryn_city')}")
    await volunteer.send(f"/card {code}")
    [refused] = await volunteer.send(f"{poll.code} 2")
    assert refused.startswith(say("ru", "poll_results.ballot_not_open", code=poll.code))
    assert await answers_of(world, poll) == []


async def test_villages_and_populations_for_the_operator(civicbot: Civicbot) -> None:
    name = f"Көк-Жар {next(_codes)}"
    rc, out, err = await civicbot(
        "municipality", "village-add", "naryn_city", "--name-ky", name, "--population", "1200"
    )
    assert rc == 0, err
    number = out.split("village ")[1].split(":")[0]
    assert (await civicbot("municipality", "population", "naryn_city", "41000"))[0] == 0
    rc, out, err = await civicbot(
        "municipality", "population", "naryn_city", "900", "--village", number
    )
    assert rc == 0, err
    rc, out, _ = await civicbot("municipality", "villages", "naryn_city")
    assert out.splitlines()[0] == "naryn_city\tpopulation 41000"
    assert f"{number}\t{name}\t{name}\t900" in out.splitlines()
    for bad, reason in [
        (("villages", "nowhere"), "civicbot: unknown municipality 'nowhere'\n"),
        (
            ("population", "naryn_city", "many"),
            "civicbot: N must be a whole number from 1 to 10000000, not 'many'\n",
        ),
        (
            ("population", "naryn_city", "5", "--village", "999"),
            "civicbot: naryn_city has no village '999' "
            "(`civicbot municipality villages naryn_city` lists them)\n",
        ),
        (("village-add", "naryn_city", "--name-ky", " "), "civicbot: --name-ky is empty\n"),
    ]:
        assert await civicbot("municipality", *bad) == (2, "", reason)


async def people(world: World, *channels_and_languages: tuple[str, str]) -> list[Person]:
    """Residents of Naryn on these channels, in these languages."""
    async with world.db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        made = [
            Person(
                channel=channel,
                channel_user_id=f"results-{next(_codes)}",
                language=language,
                municipality_id=place.id,
            )
            for channel, language in channels_and_languages
        ]
        session.add_all(made)
    return made


async def answer(
    world: World, poll: Poll, person: Person | None, choices: list[int], **fields: object
) -> None:
    key = ballots.voter_key(world.pseudonyms, poll.id, person.id) if person else ballots.paper_key()
    async with world.db.session() as session, session.begin():
        await queries.record_answer(session, poll.id, key, choices, utcnow().date(), **fields)


async def close(world: World, poll: Poll) -> None:
    async with world.db.session() as session, session.begin():
        stored = await queries.poll_by_id(session, poll.id)
        assert stored is not None
        stored.status, stored.closed_at = "closed", utcnow()


async def notices_to(world: World, persons: Sequence[Person]) -> list[Notice]:
    async with world.db.session() as session:
        query = (
            select(Notice).where(Notice.person_id.in_([p.id for p in persons])).order_by(Notice.id)
        )
        return list((await session.scalars(query)).all())


async def test_the_final_results_reach_everyone_who_answered_once(world: World, say: Say) -> None:
    poll, _ = await a_poll(world, THREE)
    telegram, sms, silent, web = await people(
        world, ("telegram", "ru"), ("sms", "ky"), ("telegram", "en"), ("web", "ky")
    )
    await answer(world, poll, telegram, [1], channel="telegram")
    await answer(world, poll, sms, [2], channel="sms")
    await answer(world, poll, web, [2], channel="web")  # counted; no one to tell afterwards
    for choice in (1, 1, 3):
        await answer(world, poll, None, [choice], channel="paper")
    await poll_outcome.send_due(world.db, world.pseudonyms, utcnow())  # other tests' polls
    assert await notices_to(world, [telegram, sms, silent]) == []  # this one is still open
    await close(world, poll)
    assert await poll_outcome.send_due(world.db, world.pseudonyms, utcnow()) >= 1
    assert await poll_outcome.send_due(world.db, world.pseudonyms, utcnow()) == 0  # once
    sent = await notices_to(world, [telegram, sms, silent, web])
    assert [(n.person_id, n.key) for n in sent] == [
        (telegram.id, "poll_results.final"),
        (sms.id, "poll_results.final"),
    ]
    catalogues = Catalogues()
    ru = catalogues.text("ru", Text(sent[0].key, sent[0].values))
    assert ru == say(
        "ru",
        "poll_results.final",
        code=poll.code,
        question="Что делать первым?",
        total=6,
        percent=50,
        label="Жол",
    )
    # What they chose is not in it: only that they answered, and what most said.
    assert set(sent[0].values) == {"code", "question", "total", "percent", "label"}
    short = catalogues.text("ky", Text(sent[1].key, sent[1].values), variant="sms")
    assert len(short) <= 70 and "50%" in short


async def test_a_budget_rounds_funded_items_are_stored_published_and_their_progress_heard(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    items = [
        {"label_ky": "Жол", "cost": 60},
        {"label_ky": "Мектептин чатыры", "cost": 50},
        {"label_ky": "Суу", "cost": 30},
    ]
    poll, _ = await a_poll(world, items, kind="budget", max_choices=3, budget_total=100)
    voters = await people(world, *[("telegram", "en")] * 3)
    # Votes: item 1 three times, item 2 twice, item 3 once. 60 fits, 50 does not, 30 does.
    for person, choices in zip(voters, ([1, 2], [1, 2], [1, 3]), strict=True):
        await answer(world, poll, person, choices, channel="telegram")
    rc, _, err = await civicbot("budget", "progress", poll.code, "1", "Started")
    assert (rc, err) == (
        2,
        f"civicbot: budget round {poll.code} is still open: nothing is funded yet\n",
    )
    await close(world, poll)
    await poll_outcome.send_due(world.db, world.pseudonyms, utcnow())
    async with world.db.session() as session:
        options = await queries.options_of(session, poll.id)
    assert [o.funded for o in options] == [True, False, True]
    finals = await notices_to(world, voters)
    assert [n.key for n in finals] == ["budget.final"] * 3
    assert finals[0].values["numbers"] == "1 3" and finals[0].values["spent"] == 90

    rc, out, err = await civicbot("budget", "progress", poll.code, "1", "The road is laid")
    assert rc == 0, err
    assert out == f"{poll.code} item 1: progress saved; 3 people will hear it\n"
    heard = (await notices_to(world, voters))[3:]
    assert [(n.key, n.values["progress"]) for n in heard] == [
        ("budget.progress", "The road is laid")
    ] * 3
    assert await civicbot("budget", "progress", poll.code, "2", "x") == (
        2,
        "",
        f"civicbot: item 2 of {poll.code} was not funded\n",
    )

    rc, out, err = await civicbot("poll", "results", poll.code, "--format", "csv")
    assert rc == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    funded = [
        (r["option"], r["count"], r["cost"], r["funded"]) for r in table if r["section"] == "option"
    ]
    assert funded == [("1", "3", "60", "yes"), ("2", "2", "50", "no"), ("3", "1", "30", "yes")]
    # Every breakdown cell here is under 5 people: withheld, the group's total kept.
    channel = [r for r in table if r["section"] == "channel"]
    assert {r["count"] for r in channel} == {""} and {r["answers"] for r in channel} == {"3"}
    async with world.db.session() as session:
        keys = await queries.voter_keys(session, poll.id)
    assert not any(key in out for key in keys)
    rc, out, err = await civicbot("poll", "results", poll.code, "--lang", "en")
    assert rc == 0, err
    assert (
        say("en", "poll_results.option_funded", number=1, label="Жол", count=3, percent=100) in out
    )
    assert await civicbot("poll", "results", "0000") == (2, "", "civicbot: unknown poll '0000'\n")


async def test_a_paper_ballot_over_a_budget_rounds_total_is_refused(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    code = f"BALLOT{next(_codes)}"
    await campaign(civicbot, code)
    items = [{"label_ky": "Жол", "cost": 60}, {"label_ky": "Суу", "cost": 50}]
    poll, _ = await a_poll(world, items, kind="budget", max_choices=2, budget_total=100)
    volunteer = world.conversation("telegram", "en")
    await volunteer.send("/start")
    await volunteer.press("English")
    await volunteer.send(f"/join {await invite_code(civicbot, 'organizer', 'naryn_city')}")
    await volunteer.send(f"/card {code}")
    [refused] = await volunteer.send(f"{poll.code} 1 2")
    assert refused.startswith(say("en", "poll_results.ballot_over_budget", spent=110, budget=100))
    [saved] = await volunteer.send(f"{poll.code} 2")
    assert saved.startswith(
        say(
            "en",
            "poll_results.ballot_saved",
            count=1,
            code=poll.code,
            choices="2",
            village=say("en", "poll_results.no_village"),
        )
    )
    assert [a.choices for a in await answers_of(world, poll)] == ["2"]


async def test_staff_mark_a_funded_items_progress_in_telegram(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    items = [{"label_ky": "Жол", "cost": 60}, {"label_ky": "Суу", "cost": 50}]
    poll, _ = await a_poll(world, items, kind="budget", max_choices=2, budget_total=100)
    [voter] = await people(world, ("sms", "ky"))
    await answer(world, poll, voter, [1], channel="sms")
    resident = world.conversation("telegram", "en")
    await resident.send("/start")
    await resident.press("English")
    assert await resident.send(f"/budget {poll.code} 1 Done") == [say("en", "budget.staff_only")]
    staff = world.conversation("telegram", "en")
    await staff.send("/start")
    await staff.press("English")
    await staff.send(f"/join {await invite_code(civicbot, 'staff', 'naryn_city')}")
    assert await staff.send("/budget soon") == [say("en", "budget.progress_usage")]
    assert await staff.send(f"/budget {poll.code} 1 Begun") == [
        say("en", "budget.still_open", code=poll.code)
    ]
    await close(world, poll)
    # Closed, not yet counted by the results job: not "not funded" (nothing is decided yet).
    assert await staff.send(f"/budget {poll.code} 1 Begun") == [
        say("en", "budget.not_counted", code=poll.code)
    ]
    await poll_outcome.send_due(world.db, world.pseudonyms, utcnow())
    assert await staff.send(f"/budget {poll.code} 2 Begun") == [
        say("en", "budget.item_not_funded", code=poll.code, item="2")
    ]
    assert await staff.send(f"/budget {poll.code} 1 The road is laid") == [
        say("en", "budget.progress_saved", code=poll.code, item="1", count=1)
    ]
    [_, heard] = await notices_to(world, [voter])
    assert (heard.key, heard.values["progress"]) == ("budget.progress", "The road is laid")
    sms = Catalogues().text("ky", Text(heard.key, heard.values), "sms")
    assert sms == f"БЮДЖЕТ {poll.code} «Жол» иши: The road is laid"


async def test_a_poll_whose_results_fail_holds_no_other_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await poll_outcome.send_due(world.db, world.pseudonyms, utcnow())  # other tests' polls
    broken, fine = (await a_poll(world, THREE))[0], (await a_poll(world, THREE))[0]
    [first, second] = await people(world, ("telegram", "en"), ("telegram", "en"))
    await answer(world, broken, first, [1], channel="telegram")
    await answer(world, fine, second, [2], channel="telegram")
    await close(world, broken)
    await close(world, fine)
    works = poll_outcome.close_results

    async def fails_for_the_first(session: Any, pseudonyms: Any, poll: Poll) -> int:
        if poll.id == broken.id:
            raise RuntimeError("a poll that cannot be closed")
        return await works(session, pseudonyms, poll)

    monkeypatch.setattr(poll_outcome, "close_results", fails_for_the_first)
    assert await poll_outcome.send_due(world.db, world.pseudonyms, utcnow()) == 1
    assert [n.person_id for n in await notices_to(world, [first, second])] == [second.id]
    monkeypatch.setattr(poll_outcome, "close_results", works)
    assert await poll_outcome.send_due(world.db, world.pseudonyms, utcnow()) == 1  # next look
    assert [n.person_id for n in await notices_to(world, [first, second])] == [second.id, first.id]
