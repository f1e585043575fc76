"""Where a person is in a guided flow (storage/models.py Conversation), as a plain record: read
and locked by one statement when an action begins, written by one when it ends if it changed.

Not an ORM object: the handlers change the step several times in one action, and each
change made the unit of work flush the row again before the next query — on SQLite that
flush cost more than the rest of the action's SQL together (docs/decisions.md, "The
conversation as a record"). An action reads and saves it only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation
from storage.prebuilt import Prebuilt
from storage.queries.common import per_dialect

_DATA = Conversation.data.type  # JSON: the record's data is serialised by the column's type
# What a read of the record gives, in this order (storage/queries/senders.py reads them too).
STATE_COLUMNS = (Conversation.step, Conversation.data, Conversation.nonce)

_LOCKED = Prebuilt(
    select(*STATE_COLUMNS).where(Conversation.person_id == bindparam("person_id")).with_for_update()
)
_ADD = per_dialect(
    lambda insert: (
        insert(Conversation)
        .values(
            person_id=bindparam("person_id"),
            step=bindparam("step"),
            data=bindparam("data", type_=_DATA),
            nonce=bindparam("nonce"),
        )
        .on_conflict_do_nothing()
    )
)
_WRITE = Prebuilt(
    update(Conversation)
    .where(Conversation.person_id == bindparam("who"))
    .values(
        step=bindparam("new_step"),
        data=bindparam("new_data", type_=_DATA),
        nonce=bindparam("new_nonce"),
    )
)


@dataclass(eq=False)
class ConversationState:
    """A person's step, the flow's data and the nonce its buttons carry. `data` is replaced,
    never changed in place: what the row holds is compared to tell whether to write it."""

    person_id: int
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    nonce: str = ""
    stored: tuple[str | None, dict[str, Any], str] | None = field(default=None, repr=False)

    def changed(self) -> bool:
        return self.stored != (self.step, self.data, self.nonce)


async def conversation_of(
    session: AsyncSession, person_id: int, new: bool = False
) -> ConversationState:
    """The person's conversation, locked until the transaction ends on PostgreSQL: one chat's
    updates are then handled one after another, whichever worker has them (SQLite has one
    writer at a time anyway). Added on the person's first message (`new`: the person was
    added by this transaction, so nobody else can have added the row), race-free."""
    if not new and (found := await _locked(session, person_id)) is not None:
        return found
    fresh = ConversationState(person_id)
    added = await _ADD.run(
        session, person_id=person_id, step=fresh.step, data=fresh.data, nonce=fresh.nonce
    )
    if added.rowcount == 1:
        fresh.stored = (fresh.step, fresh.data, fresh.nonce)
        return fresh
    found = await _locked(session, person_id)  # added meanwhile by another worker
    assert found is not None
    return found


async def _locked(session: AsyncSession, person_id: int) -> ConversationState | None:
    ran = await _LOCKED.run(session, person_id=person_id)
    return state_of_row(person_id, ran.rows[0]) if ran.rows else None


def state_of_row(person_id: int, values: Sequence[Any]) -> ConversationState:
    """The record of a row of STATE_COLUMNS read just now."""
    step, data, nonce = values
    data = data or {}
    return ConversationState(person_id, step, data, nonce, stored=(step, data, nonce))


async def save_conversation(session: AsyncSession, state: ConversationState) -> None:
    """Write the record if it changed since it was read or last written."""
    if not state.changed():
        return
    await _WRITE.run(
        session,
        who=state.person_id,
        new_step=state.step,
        new_data=state.data,
        new_nonce=state.nonce,
    )
    state.stored = (state.step, state.data, state.nonce)


async def clear_stale_drafts(session: AsyncSession, steps: Sequence[str], now: datetime) -> int:
    """Wipe drafts (of bribe reports) left at one of these steps past their expiry; how many.
    Each is cleared only if its nonce is still the one read: a draft the resident started
    again meanwhile (a new flow, a new nonce) is theirs."""
    drafts = await session.execute(
        select(Conversation.person_id, Conversation.data, Conversation.nonce).where(
            Conversation.step.in_(steps)
        )
    )
    cleared = 0
    for person_id, data, nonce in drafts.all():
        expires = (data or {}).get("expires")
        if expires is not None and datetime.fromisoformat(expires) >= now:
            continue
        result = await session.execute(
            update(Conversation)
            .where(Conversation.person_id == person_id, Conversation.nonce == nonce)
            .values(step=None, data={}, nonce="")
        )
        cleared += max(int(result.rowcount), 0)  # type: ignore[attr-defined]
    return cleared
