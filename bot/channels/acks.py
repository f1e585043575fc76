"""When an inbound delivery may be acknowledged: only once its writes are committed.

A webhook whose handling failed before the commit answers 5xx and sends nothing, so that
Telegram or Twilio delivers it again; the polling loop asks for it again. A failure that is
the database being away (down, locked past the busy timeout, a dropped connection) is
retried for as long as it lasts. Any other failure is a fault in the bot: the same delivery
failing POISON_AFTER times is then acknowledged with an apology, so that one bad update
cannot block a chat (or the polling loop) for ever.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

POISON_AFTER = 3
# The database down, busy or unreachable. PoolTimeout: no connection came free in time
# (PostgreSQL's pool, busy under load).
AWAY = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, TimeoutError)
REMEMBERED = 1000  # deliveries whose failures are counted at once


class NotKept(Exception):
    """Handling failed before the commit: the delivery must not be acknowledged."""

    def __init__(self, error: BaseException, give_up: bool) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error
        self.give_up = give_up  # failed too often: apologise and acknowledge instead


def database_away(error: BaseException) -> bool:
    """Whether the error means the database could not be reached or was busy (it will come
    back), rather than a fault in what we asked of it."""
    if isinstance(error, AWAY):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OSError) or schema_changed(error)


def schema_changed(error: BaseException) -> bool:
    """PostgreSQL refused a statement prepared before its table changed (a migration by another
    worker): the driver drops the statement and the next try prepares it again, but each
    connection meets it once, and a delivery failing on three of them must not be given up.
    Known by its name: both asyncpg's and SQLAlchemy's adapter's class have it, and importing
    either would load PostgreSQL's driver on SQLite."""
    return type(getattr(error, "orig", None)).__name__ == "InvalidCachedStatementError"


class Failures:
    """How often each recent delivery has failed with a fault (not the database away)."""

    def __init__(self) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()

    def not_kept(self, delivery: str, error: BaseException) -> NotKept:
        if database_away(error):
            return NotKept(error, give_up=False)
        count = self._counts.pop(delivery, 0) + 1
        self._counts[delivery] = count
        while len(self._counts) > REMEMBERED:
            self._counts.popitem(last=False)
        return NotKept(error, give_up=count >= POISON_AFTER)


def log_retrying(log: logging.Logger, what: str, error: BaseException) -> None:
    """A background loop's failure before it tries again: a warning when the database was
    away (busy past its timeout under load, locked, down: it comes back, nothing is lost), an
    error with its traceback when it is a fault of ours."""
    if database_away(error):
        log.warning("%s (the database: %s); trying again shortly", what, error)
    else:
        log.error("%s; trying again shortly", what, exc_info=error)


def reason(error: BaseException | None) -> str:
    """For logs and metrics: the database was away, or something else went wrong."""
    return "database" if error is not None and database_away(error) else "fault"
