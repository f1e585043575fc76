"""Telling this process that a transaction which added a notice has committed, so that the
notice sender looks at once rather than at its next interval (bot/channels/notices.py).
Notices committed by another process are found at that interval.

A session is marked when a notice is added (`mark_notice`); when its outermost transaction
commits, the event its sessionmaker put in `Session.info` is set. (A transaction that rolled
back leaves the mark for the session's next commit: one look too many, never one too few.)
"""

from __future__ import annotations

import asyncio

from sqlalchemy import event
from sqlalchemy.orm import Session

NOTICE_ADDED = "notice_added"  # the mark, in Session.info
NOTICE_COMMITTED = "notice_committed"  # the Database's asyncio.Event, in Session.info


class SignallingSession(Session):
    """The sessions of storage.db.Database: a commit that added a notice sets the event."""


def mark_notice(session: Session) -> None:
    session.info[NOTICE_ADDED] = True


@event.listens_for(SignallingSession, "after_commit")
def _committed(session: Session) -> None:
    # SQLAlchemy calls this for a SAVEPOINT's release too, before anything is visible to
    # others (storage/writer.py runs each action in one): only the outermost commit counts.
    if session.in_nested_transaction():
        return
    committed = session.info.get(NOTICE_COMMITTED)
    if session.info.pop(NOTICE_ADDED, False) and isinstance(committed, asyncio.Event):
        committed.set()
