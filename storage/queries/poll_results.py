"""What a poll's results are read from: its answers grouped by what is counted (never a voter
key), paper ballots by the volunteer who typed them, the polls whose final results are due,
and the people a result goes to.

No query here joins an answer to a person: the people who answered are found by computing
each one's key (handlers/ballots.py), outside SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Person, Poll, PollAnswer, PollOption

PEOPLE_BATCH = 1000  # people read at once while walking a municipality
# (choices, channel, village id, age band, gender, joined during the poll, how many)
AnswerGroup = tuple[str, str, int | None, str | None, str | None, bool, int]


async def answer_groups(session: AsyncSession, poll_id: int) -> list[AnswerGroup]:
    """The poll's answers, alike ones counted together."""
    traits = (
        PollAnswer.choices,
        PollAnswer.channel,
        PollAnswer.village_id,
        PollAnswer.age_band,
        PollAnswer.gender,
        PollAnswer.joined_during,
    )
    rows = await session.execute(
        select(*traits, func.count(PollAnswer.id))
        .where(PollAnswer.poll_id == poll_id)
        .group_by(*traits)
    )
    return [(str(c), str(ch), v, a, g, bool(j), int(n)) for c, ch, v, a, g, j, n in rows]


async def voter_keys(session: AsyncSession, poll_id: int) -> set[str]:
    """The keys of the poll's answers (paper ballots' too, which no person's key equals)."""
    return set(
        await session.scalars(select(PollAnswer.voter_key).where(PollAnswer.poll_id == poll_id))
    )


async def people_of(session: AsyncSession, municipality_id: int) -> AsyncIterator[Sequence[Person]]:
    """The municipality's people, a batch at a time (by id: the walk survives inserts)."""
    after = 0
    while True:
        batch = (
            await session.scalars(
                select(Person)
                .where(Person.municipality_id == municipality_id, Person.id > after)
                .order_by(Person.id)
                .limit(PEOPLE_BATCH)
            )
        ).all()
        if not batch:
            return
        yield batch
        after = batch[-1].id


async def claim_results_due(
    session: AsyncSession, now: datetime, limit: int = 20, skip: Collection[int] = ()
) -> Sequence[Poll]:
    """Polls closed (or past their closing time) whose final results have not gone out,
    marked as sent in this transaction: whichever worker commits first sends each. `skip`:
    polls not to take now."""
    over = or_(Poll.status == "closed", (Poll.status == "open") & (Poll.closes_at <= now))
    candidates = (
        await session.scalars(
            select(Poll.id)
            .where(over, Poll.results_sent_at.is_(None), Poll.id.not_in(list(skip)))
            .order_by(Poll.id)
            .limit(limit)
        )
    ).all()
    claimed = []
    for poll_id in candidates:
        result = await session.execute(
            update(Poll)
            .where(Poll.id == poll_id, Poll.results_sent_at.is_(None))
            .values(results_sent_at=now)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            poll = await session.get(Poll, poll_id)
            assert poll is not None
            claimed.append(poll)
    return claimed


async def mark_funded(session: AsyncSession, poll_id: int, funded: Sequence[int]) -> None:
    """A budget round's items funded (those positions) or not, as its close decided."""
    await session.execute(
        update(PollOption)
        .where(PollOption.poll_id == poll_id)
        .values(funded=PollOption.position.in_(list(funded)))
    )


async def poll_for_ballot(session: AsyncSession, poll_id: int) -> Poll | None:
    """The poll, read afresh and locked until this transaction ends, before a paper ballot
    of it is added, changed or taken back: the results job's claim (claim_results_due) then
    waits for the ballot to commit and counts it, or the ballot sees the results are out."""
    return await session.scalar(
        select(Poll)
        .where(Poll.id == poll_id)
        .with_for_update(of=Poll)
        .execution_options(populate_existing=True)
    )


async def ballot_of(session: AsyncSession, volunteer_id: int, ballot_id: int) -> PollAnswer | None:
    """A paper ballot, if this volunteer typed it."""
    return await session.scalar(
        select(PollAnswer).where(
            PollAnswer.id == ballot_id,
            PollAnswer.entered_by == volunteer_id,
            PollAnswer.channel == "paper",
        )
    )


async def polls_shown(
    session: AsyncSession, municipality_id: int, since: datetime, now: datetime
) -> Sequence[Poll]:
    """A municipality's polls the public sees: open ones, and those closed since `since`
    (newest first). Drafts and those waiting for approval are nobody's business yet."""
    return (
        await session.scalars(
            select(Poll)
            .where(
                Poll.municipality_id == municipality_id,
                Poll.status.in_(("open", "closed")),
                Poll.opens_at <= now,
                or_(
                    (Poll.status == "open") & (Poll.closes_at > now),
                    func.coalesce(Poll.closed_at, Poll.closes_at) >= since,
                ),
            )
            .order_by(Poll.closes_at.desc(), Poll.id.desc())
        )
    ).all()
