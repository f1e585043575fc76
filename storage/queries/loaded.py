"""ORM objects made from rows the fast path read or wrote (storage/prebuilt.py), rather than
loaded by the ORM, which costs several times the SQL on SQLite: the people and places every
inbound action touches.

One object per row, as the ORM keeps it: a row the session holds already is answered with
the session's object (`held`), never a second one with the same key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from storage.models import Base

Loaded = TypeVar("Loaded", bound=Base)


def columns_of(model: type[Base]) -> tuple[str, ...]:
    """The model's column attributes, in the table's order (a fast-path row's order)."""
    return tuple(column.key for column in model.__table__.columns)


def row_of(model: type[Base], values: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(columns_of(model), values, strict=True))


def held(session: AsyncSession, model: type[Loaded], key: object) -> Loaded | None:
    """The session's object for this primary key, if it holds one."""
    found = session.identity_map.get(identity_key(model, key))
    return found if isinstance(found, model) else None


def as_loaded(session: AsyncSession, row: Loaded, **relationships: object) -> Loaded:
    """A row read or just written, every column given, into the session as if loaded."""
    for name, value in relationships.items():
        set_committed_value(row, name, value)
    make_transient_to_detached(row)
    # A column left out would be loaded on first reading: with asyncio, an error there.
    if missing := inspect(row).expired_attributes:
        raise ValueError(f"{type(row).__name__} made without {sorted(missing)}")
    session.add(row)
    return row
