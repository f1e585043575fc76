"""Polls, their options and answers, and the villages answers are counted by.

Answers are kept under a keyed pseudonym of person and poll (handlers/ballots.py), never
the person: no query here joins an answer to a person."""

from __future__ import annotations

import secrets
import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, Table, bindparam, cast, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import LANGUAGES
from storage.models import Person, Poll, PollAnswer, PollOption, PollSend, Village, utcnow
from storage.prebuilt import Prebuilt
from storage.queries.common import per_dialect
from storage.queries.loaded import as_loaded, held, row_of
from storage.queries.places import municipality_by_id

# Every answer by button or code reads its poll: prebuilt, its object made from the row
# with its place (the ORM's joined load of both was the largest cost of an answer).
_BY_CODE = Prebuilt(select(*Poll.__table__.columns).where(Poll.code == bindparam("code")))


async def unused_poll_code(session: AsyncSession) -> str:
    """Three digits while they last, then four, five: residents type it by SMS."""
    digits = 3
    while True:
        for _ in range(20):
            code = str(10 ** (digits - 1) + secrets.randbelow(9 * 10 ** (digits - 1)))
            if await session.scalar(select(Poll.id).where(Poll.code == code)) is None:
                return code
        digits += 1


async def add_poll(
    session: AsyncSession,
    municipality_id: int,
    question: Mapping[str, str],
    options: Sequence[Mapping[str, object]],
    closes_at: datetime,
    **fields: object,
) -> Poll:
    """A poll with its options, numbered 1… in the order given. `question`: by language
    ("ky" required); each option: `label_ky`…, optionally `description_ky`…, `cost`.
    `fields`: any other column (kind, max_choices, opens_at, villages, created_by…)."""
    poll = Poll(
        code=await unused_poll_code(session),
        municipality_id=municipality_id,
        closes_at=closes_at,
        **{f"question_{code}": question.get(code) for code in LANGUAGES},
        **fields,
    )
    session.add(poll)
    await session.flush()
    session.add_all(
        PollOption(poll_id=poll.id, position=position, **option)
        for position, option in enumerate(options, start=1)
    )
    await session.flush()
    return poll


async def poll_by_code(session: AsyncSession, code: str) -> Poll | None:
    ran = await _BY_CODE.run(session, code=code.strip().upper())
    if not ran.rows:
        return None
    row = row_of(Poll, ran.rows[0])
    found = held(session, Poll, row["id"])
    if found is not None:
        return found
    place = await municipality_by_id(session, row["municipality_id"])
    return as_loaded(session, Poll, row, municipality=place)


async def poll_by_id(session: AsyncSession, poll_id: int) -> Poll | None:
    return await session.get(Poll, poll_id)


async def polls_of(
    session: AsyncSession, municipality_ids: Sequence[int] | None = None
) -> Sequence[Poll]:
    """Every poll (of these municipalities), newest first."""
    statement = select(Poll).order_by(Poll.created_at.desc(), Poll.id.desc())
    if municipality_ids is not None:
        statement = statement.where(Poll.municipality_id.in_(municipality_ids))
    return (await session.scalars(statement)).all()


async def answering_polls(
    session: AsyncSession, municipality_id: int, now: datetime
) -> Sequence[Poll]:
    """The municipality's polls a resident can answer now, the one closing soonest first."""
    return (
        await session.scalars(
            select(Poll)
            .where(
                Poll.municipality_id == municipality_id,
                Poll.status == "open",
                Poll.opens_at <= now,
                Poll.closes_at > now,
            )
            .order_by(Poll.closes_at, Poll.id)
        )
    ).all()


# Every answer reads the poll's options and its municipality's villages: prebuilt, their
# objects made from the rows (storage/queries/loaded.py), as the ORM's load cost several
# times the SQL on the answer path (docs/decisions.md).
_OPTIONS = Prebuilt(
    select(*PollOption.__table__.columns)
    .where(PollOption.poll_id == bindparam("poll"))
    .order_by(PollOption.position)
)
_VILLAGES = Prebuilt(
    select(*Village.__table__.columns)
    .where(Village.municipality_id == bindparam("municipality"))
    .order_by(Village.position)
)
Made = typing.TypeVar("Made", PollOption, Village)


def _objects(session: AsyncSession, model: type[Made], rows: Sequence[Sequence[Any]]) -> list[Made]:
    """The session's object for each row, made from the row where it holds none."""
    made: list[Made] = []
    for row in rows:
        found = held(session, model, row[0])
        made.append(found if found is not None else as_loaded(session, model, row_of(model, row)))
    return made


async def options_of(session: AsyncSession, poll_id: int) -> Sequence[PollOption]:
    ran = await _OPTIONS.run(session, poll=poll_id)
    return _objects(session, PollOption, ran.rows)


async def answer_of(session: AsyncSession, poll_id: int, *voter_keys: str) -> PollAnswer | None:
    """The answer given under any of these keys (a voter's under each known secret key)."""
    return await session.scalar(
        select(PollAnswer)
        .where(PollAnswer.poll_id == poll_id, PollAnswer.voter_key.in_(voter_keys))
        .order_by(PollAnswer.id.desc())
        .limit(1)
    )


async def record_answer(
    session: AsyncSession,
    poll_id: int,
    voter_key: str,
    choices: Sequence[int],
    answered_on: date,
    **fields: object,
) -> bool:
    """Keep one voter's answer; True when it replaced one they gave before (the last
    counts). `fields`: channel, village_id, age_band, gender, joined_during, entered_by.
    A resident's answer first takes `lock_answering` in the same transaction."""
    values = {"choices": " ".join(str(c) for c in choices), "answered_on": answered_on, **fields}
    row = {**_ANSWER_DEFAULTS, "poll_id": poll_id, "voter_key": voter_key, **values}
    if (await _ADD_ANSWER.run(session, **row)).rowcount:
        return False
    change = _change_of(tuple(sorted(values)))
    await change.run(
        session, poll=poll_id, voter=voter_key, **{f"new_{k}": v for k, v in values.items()}
    )
    return True


# One prebuilt INSERT … ON CONFLICT DO NOTHING, and an UPDATE per set of fields changed (a
# paper ballot's differ from a resident's): built by the ORM on each answer, they cost more
# than their SQL (docs/decisions.md).
_ANSWER_COLUMNS = [column for column in PollAnswer.__table__.columns if column.key != "id"]
_ANSWER_DEFAULTS: dict[str, object] = {
    "village_id": None,
    "age_band": None,
    "gender": None,
    "joined_during": False,
    "entered_by": None,
}
_ADD_ANSWER = per_dialect(
    lambda insert: (
        insert(PollAnswer)
        .values(
            {column.key: bindparam(column.key, type_=column.type) for column in _ANSWER_COLUMNS}
        )
        .on_conflict_do_nothing()
    )
)
_CHANGES: dict[tuple[str, ...], Prebuilt] = {}


def _change_of(names: tuple[str, ...]) -> Prebuilt:
    if (found := _CHANGES.get(names)) is None:
        found = Prebuilt(
            update(PollAnswer)
            .where(
                PollAnswer.poll_id == bindparam("poll"),
                PollAnswer.voter_key == bindparam("voter"),
            )
            .values({name: bindparam(f"new_{name}") for name in names})
        )
        _CHANGES[names] = found
    return found


async def lock_answering(session: AsyncSession, poll_id: int) -> bool:
    """Whether the poll is answering at this moment, its row share-locked until the
    transaction (the answer written next) commits: the close (storage/queries/poll_results.py's
    claim, an UPDATE of that row, then the tally) waits for it, or, having claimed first, is
    seen here. An earlier look may have been just before the closing time."""
    ran = await _ANSWERING.run(session, poll=poll_id, now=utcnow())
    return bool(ran.rows)


# FOR SHARE: answers to one poll do not wait for each other, and the close's UPDATE waits for
# every one of them (SQLite, one writer at a time, has no such clause and needs none).
_ANSWERING = Prebuilt(
    select(Poll.id)
    .where(
        Poll.id == bindparam("poll"),
        Poll.status == "open",
        Poll.opens_at <= bindparam("now", type_=Poll.opens_at.type),
        Poll.closes_at > bindparam("now", type_=Poll.closes_at.type),
        Poll.results_sent_at.is_(None),
    )
    .with_for_update(read=True)
)


async def villages_of(session: AsyncSession, municipality_id: int) -> Sequence[Village]:
    ran = await _VILLAGES.run(session, municipality=municipality_id)
    return _objects(session, Village, ran.rows)


async def add_village(
    session: AsyncSession,
    municipality_id: int,
    names: Mapping[str, str],
    population: int | None = None,
) -> Village:
    """A village at the end of the municipality's list; names missing in ru or en are ky's."""
    last = await session.scalar(
        select(Village.position)
        .where(Village.municipality_id == municipality_id)
        .order_by(Village.position.desc())
        .limit(1)
    )
    village = Village(
        municipality_id=municipality_id,
        position=(last or 0) + 1,
        population=population,
        **{f"name_{code}": names.get(code) or names["ky"] for code in LANGUAGES},
    )
    session.add(village)
    await session.flush()
    return village


# --- answering (handlers/polls.py) ------------------------------------------------------


async def last_sent_poll(
    session: AsyncSession, person_id: int, now: datetime
) -> tuple[Poll, datetime] | None:
    """The poll most recently sent to this person that is still answering, and when it went
    (their number alone answers it: handlers/polls.py)."""
    row = (
        await session.execute(
            select(Poll, PollSend.sent_at)
            .join(PollSend, PollSend.poll_id == Poll.id)
            .where(
                PollSend.person_id == person_id,
                PollSend.status == "sent",
                PollSend.sent_at.is_not(None),
                Poll.status == "open",
                Poll.opens_at <= now,
                Poll.closes_at > now,
            )
            .order_by(PollSend.sent_at.desc(), PollSend.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None or row[1] is None else (row[0], row[1])


async def poll_ids(session: AsyncSession) -> Sequence[int]:
    return (await session.scalars(select(Poll.id))).all()


async def describe_voter(
    session: AsyncSession, keys: Mapping[int, Sequence[str]], **fields: object
) -> None:
    """Copy what a voter chose to say (village, age band, gender) into their answers to
    these polls (`keys`: poll id → their voter keys there, under each known secret key)."""
    for poll_id, voter_keys in keys.items():
        await session.execute(
            update(PollAnswer)
            .where(PollAnswer.poll_id == poll_id, PollAnswer.voter_key.in_(voter_keys))
            .values(**fields)
        )


FORGOTTEN_PREFIX = "forgotten:"


async def unlink_answers(session: AsyncSession, keys: Sequence[str]) -> None:
    """A forgotten person's answers stay counted under keys made of nothing of theirs (each
    answer row's own id), so that not even the pseudonyms' secret with a guessed person id
    leads back to them, and a later person given the same id finds none of them."""
    if not keys:
        return
    await session.execute(
        update(PollAnswer)
        .where(PollAnswer.voter_key.in_(keys))
        .values(voter_key=literal(FORGOTTEN_PREFIX) + cast(PollAnswer.id, String))
    )


async def person_ids(session: AsyncSession) -> Sequence[int]:
    """Every person's id: a rotation computes each one's voter keys (bot/commands/rotation.py)."""
    return (await session.scalars(select(Person.id).order_by(Person.id))).all()


async def move_answers(session: AsyncSession, poll_id: int, moves: Mapping[str, str]) -> None:
    """Answers to the poll moved from one voter key to another (old → new): a rotation's
    replaced secret key to the newest."""
    table = typing.cast(Table, PollAnswer.__table__)
    if moves:
        await session.execute(
            update(table)
            .where(table.c.poll_id == poll_id, table.c.voter_key == bindparam("old"))
            .values(voter_key=bindparam("new")),
            [{"old": old, "new": new} for old, new in moves.items()],
        )


async def village_by_id(session: AsyncSession, village_id: int) -> Village | None:
    return await session.get(Village, village_id)
