"""People as each channel knows them, and their conversations."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Conversation,
    Person,
    Wish,
    utcnow,
)
from storage.queries.common import insert_ignore

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


async def find_person(session: AsyncSession, channel: str, user_id: str) -> Person | None:
    return await session.scalar(_PERSON, {"channel": channel, "user_id": user_id})


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
    added = await insert_ignore(
        session,
        Person,
        [
            {
                "channel": channel,
                "channel_user_id": user_id,
                "language": language,
                "language_confirmed": False,
                "opted_out": False,
                "created_at": utcnow(),
            }
        ],
    )
    person = await find_person(session, channel, user_id)
    assert person is not None
    return person, added > 0


async def mark_opted_out(session: AsyncSession, channel: str, user_id: str) -> None:
    await session.execute(
        update(Person)
        .where(Person.channel == channel, Person.channel_user_id == user_id)
        .values(opted_out=True)
    )


async def mark_person_opted_out(session: AsyncSession, person_id: int) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(opted_out=True))


async def conversation_of(session: AsyncSession, person: Person) -> Conversation:
    """The person's conversation row, locked until the transaction ends on PostgreSQL: one
    chat's updates are then handled one after another, whichever worker has them (SQLite
    has one writer at a time anyway). Added on the person's first message, race-free."""
    conversation = await _locked_conversation(session, person.id)
    if conversation is None:
        await insert_ignore(
            session, Conversation, [{"person_id": person.id, "step": None, "data": {}, "nonce": ""}]
        )
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
