"""People as each channel knows them (their conversations: storage/queries/conversations.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import (
    Conversation,
    Municipality,
    Person,
    Region,
    Wish,
    utcnow,
)
from storage.prebuilt import Prebuilt
from storage.queries.common import per_dialect
from storage.queries.loaded import as_loaded, held, row_of
from storage.queries.places import PLACE_COLUMNS, municipality_by_id, place_of_row

# Built once: composing a statement costs more than running it on SQLite, and these two run
# for every inbound action.
_PERSON = select(Person).where(
    Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id")
)
# Every column of a person and of their place, on the fast path: loading them as ORM objects
# costs about thirty times what SQLite takes to find them, and one statement is one round
# trip to PostgreSQL instead of two.
PERSON_COLUMNS = (*Person.__table__.columns, *PLACE_COLUMNS)
_PERSON_WIDTH = len(Person.__table__.columns)
# A new sender's columns with no value yet (add_person).
_UNSET_AT_FIRST = ("municipality_id", "campaign_id", "village_id", "age_band", "gender")


def with_place(statement: Select[Any]) -> Select[Any]:
    """A read of PERSON_COLUMNS for one channel's id: the person, their place and its region."""
    return (
        statement.outerjoin(Municipality, Municipality.id == Person.municipality_id)
        .outerjoin(Region, Region.id == Municipality.region_id)
        .where(
            Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id")
        )
    )


_PERSON_ROW = Prebuilt(with_place(select(*PERSON_COLUMNS).select_from(Person)))
# A sender's place and step, read without a lock (a channel's look before fetching a picture).
_STANDING = (
    select(Person.municipality_id, Conversation.step)
    .outerjoin(Conversation, Conversation.person_id == Person.id)
    .where(Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id"))
)

# What handlers change of a person (`change_person`): one statement per set of columns
# changed together, built the first time, so that a column not changed is never written (a
# stale copy would undo another worker's change: an opt-out the outbox marked meanwhile).
SETTINGS = (
    "language",
    "language_confirmed",
    "municipality_id",
    "opted_out",
    "campaign_id",
    # What a resident chose to say at a poll's end (handlers/poll_profile.py).
    "village_id",
    "age_band",
    "gender",
)
_CHANGEABLE = {*SETTINGS, "municipality"} - {"municipality_id"}  # the place, not its id
_WRITES: dict[tuple[str, ...], Prebuilt] = {}


def _write_of(names: tuple[str, ...]) -> Prebuilt:
    if (found := _WRITES.get(names)) is None:
        values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in names}
        found = Prebuilt(update(Person).where(Person.id == bindparam("who")).values(values))
        _WRITES[names] = found
    return found


# INSERT … ON CONFLICT DO NOTHING … RETURNING its id: a new sender costs one statement
# instead of a look-up, an insert and a look-up. The row's other columns are known, so the
# object is made here (storage/queries/loaded.py) rather than loaded by the ORM, which costs
# several times the SQL on SQLite.
_ADD_PERSON = per_dialect(
    lambda insert: (
        insert(Person)
        .values(
            channel=bindparam("channel"),
            channel_user_id=bindparam("channel_user_id"),
            language=bindparam("language"),
            language_confirmed=bindparam("language_confirmed"),
            opted_out=bindparam("opted_out"),
            created_at=bindparam("created_at"),
        )
        .on_conflict_do_nothing()
        .returning(Person.id)
    )
)


async def find_person(session: AsyncSession, channel: str, user_id: str) -> Person | None:
    return await session.scalar(_PERSON, {"channel": channel, "user_id": user_id})


async def standing_of(
    session: AsyncSession, channel: str, user_id: str
) -> tuple[int | None, str | None] | None:
    """A sender's municipality id and conversation step, read and not locked; None for
    someone never seen."""
    row = (await session.execute(_STANDING, {"channel": channel, "user_id": user_id})).first()
    return None if row is None else (row.municipality_id, row.step)


async def person_by_id(session: AsyncSession, person_id: int) -> Person | None:
    return await session.get(Person, person_id)


async def ensure_person(
    session: AsyncSession, channel: str, user_id: str, language: str
) -> tuple[Person, bool]:
    """The person behind this channel's id, added if new; (person, whether added).

    INSERT … ON CONFLICT DO NOTHING, so that two first messages of one new sender handled at
    once (two workers, or two requests) both find the one row instead of one failing.
    """
    # The row first, without the ORM: a new sender (most of a signing wave) then costs no
    # object loading at all, a known one the session's own object or one made from the row.
    known = await _PERSON_ROW.run(session, channel=channel, user_id=user_id)
    if known.rows:
        return await person_of_row(session, known.rows[0]), False
    return await add_person(session, channel, user_id, language)


async def add_person(
    session: AsyncSession, channel: str, user_id: str, language: str
) -> tuple[Person, bool]:
    """ensure_person for a sender a read just found no row of (most likely new): the insert
    first, and a look-up only if another request added them meanwhile."""
    values: dict[str, Any] = {
        "channel": channel,
        "channel_user_id": user_id,
        "language": language,
        "language_confirmed": False,
        "opted_out": False,
        "created_at": utcnow(),
    }
    person_id = (await _ADD_PERSON.run(session, **values)).scalar()
    if person_id is not None:
        unset = dict.fromkeys(_UNSET_AT_FIRST)
        row = {"id": person_id, **unset, **values}
        return as_loaded(session, Person, row, municipality=None), True
    found = await find_person(session, channel, user_id)  # another request added it just now
    assert found is not None
    return found, False


async def person_of_row(session: AsyncSession, values: Sequence[Any]) -> Person:
    """The person of a row of PERSON_COLUMNS read just now, with their place (the session's
    object if it holds one)."""
    row = row_of(Person, values[:_PERSON_WIDTH])
    person = held(session, Person, row["id"])
    if person is not None:
        return person
    place_id, place_row = row["municipality_id"], values[_PERSON_WIDTH:]
    if place_id is None:
        municipality = None
    elif place_row[0] == place_id:
        municipality = place_of_row(session, place_row)
    else:
        # The person's row re-read after a wait for its lock (storage/queries/senders.py):
        # PostgreSQL gives the new version, joined to no place; the place is read apart.
        municipality = await municipality_by_id(session, place_id)
    return as_loaded(session, Person, row, municipality=municipality)


async def change_person(session: AsyncSession, person: Person, **values: Any) -> None:
    """Change some of a person's settings — language, language_confirmed, opted_out,
    campaign_id, village_id, age_band, gender, municipality (the place itself, not its
    id) — written at once by one statement, and the session's object given them as
    stored. Assigning to the object instead would leave the ORM to flush it before the next
    query, even for a value equal to the old one, and its flush costs more than the rest of
    an action's SQL."""
    if unknown := values.keys() - _CHANGEABLE:
        raise ValueError(f"not a setting of a person: {sorted(unknown)}")
    place = values.pop("municipality", person.municipality)
    values["municipality_id"] = place.id if place is not None else None
    changed = {name: value for name, value in values.items() if getattr(person, name) != value}
    if not changed:
        return
    names = tuple(name for name in SETTINGS if name in changed)
    await _write_of(names).run(session, who=person.id, **{f"new_{n}": changed[n] for n in names})
    for name, value in changed.items():
        set_committed_value(person, name, value)
    if "municipality_id" in changed:
        set_committed_value(person, "municipality", place)


async def mark_opted_out(session: AsyncSession, channel: str, user_id: str) -> None:
    await session.execute(
        update(Person)
        .where(Person.channel == channel, Person.channel_user_id == user_id)
        .values(opted_out=True)
    )


async def mark_person_opted_out(session: AsyncSession, person_id: int) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(opted_out=True))


async def forget_person(session: AsyncSession, person: Person) -> None:
    """Delete a person and what is theirs; what they reported stays, unlinked."""
    await session.execute(update(Wish).where(Wish.person_id == person.id).values(person_id=None))
    await session.execute(delete(Conversation).where(Conversation.person_id == person.id))
    await session.delete(person)
    await session.flush()


async def count_wishes_of(session: AsyncSession, person: Person) -> int:
    return int(
        await session.scalar(select(func.count(Wish.id)).where(Wish.person_id == person.id)) or 0
    )


async def count_people_by_channel(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Person.channel, func.count(Person.id)).group_by(Person.channel)
    )
    return {channel: int(count) for channel, count in rows.all()}
