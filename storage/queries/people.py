"""People as each channel knows them, and their conversations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Conversation,
    Person,
    Wish,
    utcnow,
)
from storage.prebuilt import Prebuilt
from storage.queries.common import per_dialect
from storage.queries.loaded import as_loaded, held, refreshed, row_of
from storage.queries.places import municipality_by_id

# Built once: composing a statement costs more than running it on SQLite, and these two run
# for every inbound action.
_PERSON = select(Person).where(
    Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id")
)
# Every column of a person, on the fast path: loading it as an ORM object costs about thirty
# times what SQLite takes to find it.
_PERSON_ROW = Prebuilt(
    select(*Person.__table__.columns).where(
        Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id")
    )
)
# A sender's place and step, read without a lock (a channel's look before fetching a picture).
_STANDING = (
    select(Person.municipality_id, Conversation.step)
    .outerjoin(Conversation, Conversation.person_id == Person.id)
    .where(Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id"))
)
_CONVERSATION = Prebuilt(
    select(*Conversation.__table__.columns)
    .where(Conversation.person_id == bindparam("person_id"))
    .with_for_update()
)


# INSERT … ON CONFLICT DO NOTHING, for a person (RETURNING its id) and a conversation: a new
# sender costs one statement each instead of a look-up, an insert and a look-up. The rows'
# other columns are known, so the objects are made here (storage/queries/loaded.py) rather
# than loaded by the ORM, which costs several times the SQL on SQLite.
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
_ADD_CONVERSATION = per_dialect(
    lambda insert: (
        insert(Conversation)
        .values(
            person_id=bindparam("person_id"),
            step=bindparam("step"),
            data=bindparam("data", type_=Conversation.data.type),
            nonce=bindparam("nonce"),
        )
        .on_conflict_do_nothing()
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
        return await _person_of(session, row_of(Person, known.rows[0])), False
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
        person = Person(id=person_id, municipality_id=None, campaign_id=None, **values)
        return as_loaded(session, person, municipality=None), True
    found = await find_person(session, channel, user_id)  # another request added it just now
    assert found is not None
    return found, False


async def _person_of(session: AsyncSession, row: dict[str, Any]) -> Person:
    """The person of a row read just now, with their place."""
    person = held(session, Person, row["id"])
    if person is not None:
        return person
    place = row["municipality_id"]
    municipality = await municipality_by_id(session, place) if place is not None else None
    return as_loaded(session, Person(**row), municipality=municipality)


async def mark_opted_out(session: AsyncSession, channel: str, user_id: str) -> None:
    await session.execute(
        update(Person)
        .where(Person.channel == channel, Person.channel_user_id == user_id)
        .values(opted_out=True)
    )


async def mark_person_opted_out(session: AsyncSession, person_id: int) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(opted_out=True))


async def conversation_of(session: AsyncSession, person: Person, new: bool = False) -> Conversation:
    """The person's conversation row, locked until the transaction ends on PostgreSQL: one
    chat's updates are then handled one after another, whichever worker has them (SQLite
    has one writer at a time anyway). Added on the person's first message (`new`: the person
    was added by this transaction, so nobody else can have added the row), race-free."""
    conversation = None if new else await _locked_conversation(session, person.id)
    if conversation is None:
        values: dict[str, Any] = {"person_id": person.id, "step": None, "data": {}, "nonce": ""}
        if (await _ADD_CONVERSATION.run(session, **values)).rowcount == 1:
            conversation = as_loaded(session, Conversation(**values))
        else:  # added meanwhile by another worker's first message
            conversation = await _locked_conversation(session, person.id)
    assert conversation is not None
    return conversation


async def _locked_conversation(session: AsyncSession, person_id: int) -> Conversation | None:
    """The row read (and locked), on the fast path. An object the session holds for it is
    given the row's values, as the ORM's populate_existing would: a wait for the lock on
    PostgreSQL may have let another worker's change in. What the session has changed and
    not written is written first, as the ORM's autoflush did (a job that asks two of one
    resident's wishes in one session must see the first question's step)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    ran = await _CONVERSATION.run(session, person_id=person_id)
    if not ran.rows:
        return None
    row = row_of(Conversation, ran.rows[0])
    conversation = held(session, Conversation, person_id)
    if conversation is None:
        return as_loaded(session, Conversation(**row))
    return refreshed(conversation, row)


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
