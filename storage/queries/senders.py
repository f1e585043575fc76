"""Who sent an inbound action, read in one statement: the person, their place and their
conversation, the person's and the conversation's rows locked (on PostgreSQL) until the
transaction ends.

Each of those was a statement of its own, and on PostgreSQL each statement is a round trip;
with the ping gone (storage/db.py) they were three of an action's seven. The conversation's lock
is the one `conversation_of` takes: it orders one person's actions across workers. The
person's row is locked with it so that a read that waited for another worker's action gets
what that action wrote to both (PostgreSQL re-reads only the rows it locks); a place changed
meanwhile is then read apart (`person_of_row`). That lock is FOR NO KEY UPDATE: it waits for
a change of the row, not for rows that point at it (a notice for this person added by
another's action takes a key-share lock on it; FOR UPDATE made two such actions deadlock).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, Person
from storage.prebuilt import Prebuilt
from storage.queries.conversations import (
    STATE_COLUMNS,
    ConversationState,
    conversation_of,
    state_of_row,
)
from storage.queries.people import PERSON_COLUMNS, add_person, person_of_row, with_place

# Joined inner: FOR UPDATE may not lock the nullable side of an outer join, and a person
# without a conversation yet (new, or added where none is made: a staff role) takes the
# two-statement path.
_SENDER = Prebuilt(
    with_place(
        select(*PERSON_COLUMNS, *STATE_COLUMNS)
        .select_from(Person)
        .join(Conversation, Conversation.person_id == Person.id)
    ).with_for_update(of=(Conversation, Person), key_share=True)
)
_WIDTH = len(PERSON_COLUMNS)


async def open_sender(
    session: AsyncSession, channel: str, user_id: str, language: str
) -> tuple[Person, ConversationState, bool]:
    """The sender's person (added, in `language`, if new), their conversation, locked, and
    whether the person was added just now."""
    known = await _SENDER.run(session, channel=channel, user_id=user_id)
    if known.rows:
        values = known.rows[0]
        person = await person_of_row(session, values[:_WIDTH])
        return person, state_of_row(person.id, values[_WIDTH:]), False
    # Not known with a conversation: new (a signing wave is all new senders), or rarely a
    # person without one. The insert answers both, without a second read.
    person, added = await add_person(session, channel, user_id, language)
    return person, await conversation_of(session, person.id, new=added), added
