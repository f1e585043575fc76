"""The ballot's rules apart from any channel (handlers/ballots.py), and one answer per voter
per poll in the database (storage/queries/polls.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from handlers import ballots
from handlers.pseudonyms import Pseudonyms
from storage import queries
from storage.db import Database
from storage.models import Poll, PollAnswer, PollOption, utcnow

KEYS = Pseudonyms("a test key")


def _poll(kind: str = ballots.SINGLE, max_choices: int = 1, total: int | None = None) -> Poll:
    return Poll(kind=kind, max_choices=max_choices, budget_total=total)


def _options(costs: list[int]) -> list[PollOption]:
    return [
        PollOption(position=n, label_ky=f"item {n}", cost=cost)
        for n, cost in enumerate(costs, start=1)
    ]


def test_numbers_are_read_as_people_type_them() -> None:
    assert ballots.parse_choices("2") == (2,)
    assert ballots.parse_choices(" 2 5 7 ") == (2, 5, 7)
    assert ballots.parse_choices("2,5;7.") == (2, 5, 7)
    for not_numbers in ("", "two", "2 and 5", "-2", "2x"):
        assert ballots.parse_choices(not_numbers) is None, not_numbers


def test_each_refusal_names_its_reason() -> None:
    three = _options([0, 0, 0])
    priority = _poll(ballots.PRIORITY, max_choices=2)
    assert ballots.refusal(_poll(), three, (2,)) is None
    assert ballots.refusal(_poll(), three, ()) == ballots.NOT_NUMBERS
    assert ballots.refusal(_poll(), three, (4,)) == ballots.OUT_OF_RANGE
    assert ballots.refusal(_poll(), three, (0,)) == ballots.OUT_OF_RANGE
    assert ballots.refusal(_poll(), three, (1, 2)) == ballots.TOO_MANY
    assert ballots.refusal(priority, three, (1, 3)) is None
    assert ballots.refusal(priority, three, (1, 1)) == ballots.REPEATED
    assert ballots.refusal(priority, three, (1, 2, 3)) == ballots.TOO_MANY
    budget = _poll(ballots.BUDGET, max_choices=3, total=100)
    items = _options([60, 40, 50])
    assert ballots.refusal(budget, items, (1, 2)) is None
    assert ballots.refusal(budget, items, (1, 3)) == ballots.OVER_BUDGET


def test_funding_passes_over_what_does_not_fit_and_goes_on() -> None:
    items = _options([70, 50, 30, 20])
    votes = {1: 10, 2: 9, 3: 8, 4: 0}
    # 1 (70) fits; 2 (50) no longer does; 3 (30) does; 4 has no vote.
    assert ballots.funded(items, votes, 100) == [1, 3]
    # A tie goes to the cheaper item.
    assert ballots.funded(_options([60, 50]), {1: 5, 2: 5}, 60) == [2]


@given(
    costs=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=9),
    votes=st.lists(st.integers(min_value=0, max_value=50), min_size=9, max_size=9),
    total=st.integers(min_value=0, max_value=3000),
)
def test_the_funded_set_fits_and_no_passed_over_item_would_have(
    costs: list[int], votes: list[int], total: int
) -> None:
    items = _options(costs)
    by_item = {o.position: votes[o.position - 1] for o in items}
    chosen = ballots.funded(items, by_item, total)
    assert ballots.spent(items, chosen) <= total
    assert all(by_item[n] > 0 for n in chosen)
    left = total - ballots.spent(items, chosen)
    # Every voted item left out costs more than what was left when its turn came, and so
    # more than what is left at the end.
    for item in items:
        if item.position not in chosen and by_item[item.position] > 0:
            assert (item.cost or 0) > left


def test_a_voter_is_someone_else_in_each_poll() -> None:
    first = ballots.voter_key(KEYS, 1, 42)
    assert first == ballots.voter_key(KEYS, 1, 42)
    assert first != ballots.voter_key(KEYS, 2, 42)
    assert first != ballots.voter_key(KEYS, 1, 43)
    assert "42" not in first
    assert ballots.paper_key() != ballots.paper_key()


async def test_the_last_answer_counts_and_one_voter_has_one_row(db: Database) -> None:
    async with db.session() as session, session.begin():
        place = (await queries.all_municipalities(session))[0]
        poll = await queries.add_poll(
            session,
            place.id,
            {"ky": "Эмнени оңдоо керек?"},
            [{"label_ky": "Жол"}, {"label_ky": "Суу"}, {"label_ky": "Мектеп"}],
            utcnow() + timedelta(days=7),
            kind=ballots.PRIORITY,
            max_choices=2,
            status="open",
        )
    assert poll.code.isdigit() and len(poll.code) == 3
    voter = ballots.voter_key(KEYS, poll.id, 1)
    today = utcnow().date()
    async with db.session() as session, session.begin():
        assert not await queries.record_answer(
            session, poll.id, voter, (1, 3), today, channel="sms", joined_during=False
        )
    async with db.session() as session, session.begin():
        assert await queries.record_answer(
            session, poll.id, voter, (2,), today, channel="sms", joined_during=False
        )
    async with db.session() as session:
        answers = (
            await session.scalars(select(PollAnswer).where(PollAnswer.poll_id == poll.id))
        ).all()
        options = await queries.options_of(session, poll.id)
        found = await queries.poll_by_code(session, f" {poll.code} ")
    assert [(a.voter_key, a.choices) for a in answers] == [(voter, "2")]
    assert [o.label("ru") for o in options] == ["Жол", "Суу", "Мектеп"]  # ky where no ru
    assert found is not None and found.question("en") == "Эмнени оңдоо керек?"
