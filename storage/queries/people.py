"""People as each channel knows them, and their conversations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Conversation,
    Person,
    Wish,
    utcnow,
)

# Built once: composing a statement costs more than running it on SQLite, and these two run
# for every inbound action.
_PERSON = select(Person).where(
    Person.channel == bindparam("channel"), Person.channel_user_id == bindparam("user_id")
)
_CONVERSATION = (
    select(Conversation)
    .where(Conversation.person_id == bindparam("person_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _additions(insert: Any) -> tuple[Any, Any]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the row, for a person and a conversation: a
    new sender costs one statement each instead of a look-up, an insert and a look-up."""
    person = (
        insert(Person)
        .values(
            channel=bindparam("channel"),
            channel_user_id=bindparam("user_id"),
            language=bindparam("language"),
            language_confirmed=False,
            opted_out=False,
            created_at=bindparam("now"),
        )
        .on_conflict_do_nothing()
        .returning(Person)
    )
    conversation = (
        insert(Conversation)
        .values(person_id=bindparam("person_id"), step=None, data={}, nonce="")
        .on_conflict_do_nothing()
        .returning(Conversation)
    )
    return person, conversation


_ADD_PERSON, _ADD_CONVERSATION = (
    dict(zip(("sqlite", "postgresql"), statements, strict=True))
    for statements in zip(_additions(sqlite_insert), _additions(postgresql_insert), strict=True)
)


async def find_person(session: AsyncSession, channel: str, user_id: str) -> Person | None:
    return await session.scalar(_PERSON, {"channel": channel, "user_id": user_id})


async def person_by_id(session: AsyncSession, person_id: int) -> Person | None:
    return await session.get(Person, person_id)


async def ensure_person(
    session: AsyncSession, channel: str, user_id: str, language: str
) -> tuple[Person, bool]:
    """The person behind this channel's id, added if new; (person, whether added).

    INSERT … ON CONFLICT DO NOTHING, so that two first messages of one new sender handled at
    once (two workers, or two requests) both find the one row instead of one failing.
    """
    person = await find_person(session, channel, user_id)
    if person is not None:
        return person, False
    dialect = (await session.connection()).dialect.name
    values = {"channel": channel, "user_id": user_id, "language": language, "now": utcnow()}
    added = await session.scalar(_ADD_PERSON[dialect], values)
    if added is not None:
        return added, True
    person = await find_person(session, channel, user_id)  # another request added it just now
    assert person is not None
    return person, False


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
        dialect = (await session.connection()).dialect.name
        conversation = await session.scalar(_ADD_CONVERSATION[dialect], {"person_id": person.id})
        if conversation is None:  # added meanwhile by another worker's first message
            conversation = await _locked_conversation(session, person.id)
    assert conversation is not None
    return conversation


async def _locked_conversation(session: AsyncSession, person_id: int) -> Conversation | None:
    return await session.scalar(_CONVERSATION, {"person_id": person_id})


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
