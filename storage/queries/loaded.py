"""ORM objects made from rows the fast path read or wrote (storage/prebuilt.py), rather than
loaded by the ORM, which costs several times the SQL on SQLite: the people and places every
inbound action touches.

One object per row, as the ORM keeps it: a row the session holds already is answered with
the session's object (`held`), never a second one with the same key.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from storage.models import Base

Loaded = TypeVar("Loaded", bound=Base)
_KEPT = "loaded.kept"  # its key in session.info (`keep`)


@functools.cache
def columns_of(model: type[Base]) -> tuple[str, ...]:
    """The model's column attributes, in the table's order (a fast-path row's order)."""
    return tuple(column.key for column in model.__table__.columns)


@functools.cache
def _column_set(model: type[Base]) -> frozenset[str]:
    return frozenset(columns_of(model))


@functools.cache
def _manager(model: type[Base]) -> Any:
    """What makes the model's objects, the mappers configured first (the constructor did it
    on the first object; a script whose first object is made here would otherwise fail)."""
    configure_mappers()
    return model.__mapper__.class_manager


def row_of(model: type[Base], values: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(columns_of(model), values, strict=True))


def held(session: AsyncSession, model: type[Loaded], key: object) -> Loaded | None:
    """The session's object for this primary key, if it holds one."""
    found = session.identity_map.get(model.__mapper__.identity_key_from_primary_key((key,)))
    return found if isinstance(found, model) else None


def keep(session: AsyncSession, row: Base) -> None:
    """Hold an object for the session's life. Its identity map holds objects weakly: the
    actions of one batch (storage/writer.py) would each make or read again what the last one
    let go of (the place most senders share, the initiative a signing wave names)."""
    session.info.setdefault(_KEPT, []).append(row)


async def got(session: AsyncSession, model: type[Loaded], key: object) -> Loaded | None:
    """`session.get`, without its trip through SQLAlchemy's greenlet when the session holds
    the object with every column loaded; one a rolled-back savepoint expired is read again."""
    found = held(session, model, key)
    if found is not None and not instance_state(found).expired_attributes:
        return found
    return await session.get(model, key)


def as_loaded(
    session: AsyncSession,
    model: type[Loaded],
    values: Mapping[str, Any],
    **relationships: object,
) -> Loaded:
    """A row read or just written, every column given, into the session as if loaded.

    The values go straight into the object's state, as the ORM's own loading puts them:
    made through the constructor, each column was a change event (history, a modified
    flag) for nothing to flush, which cost more than reading the row (docs/decisions.md)."""
    if unknown := values.keys() - _column_set(model):  # as the constructor refused them
        raise ValueError(f"{model.__name__} has no {sorted(unknown)}")
    row: Loaded = _manager(model).new_instance()
    state = instance_state(row)
    state.dict.update(values)
    for name, value in relationships.items():
        set_committed_value(row, name, value)
    make_transient_to_detached(row)
    # A column left out would be loaded on first reading: with asyncio, an error there.
    if missing := state.expired_attributes:
        raise ValueError(f"{type(row).__name__} made without {sorted(missing)}")
    session.add(row)
    return row
