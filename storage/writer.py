"""SQLite's one writer, shared: group commit.

SQLite lets one connection write at a time. Many concurrent write transactions from one
process do not run faster; they queue in SQLite's busy handler, which sleeps and polls, and
each holds its transaction open while the event loop gets round to its next statement.

So on SQLite the inbound actions of the whole process go through this queue instead: a
single task takes whatever is waiting (up to MAX_BATCH), runs each in its own SAVEPOINT of
one transaction — an action that fails is rolled back alone — and commits once for all. Only
after that commit does any of them learn its result, so nothing is acknowledged before it
is kept; if the commit fails, every action of the batch fails and is delivered again.

The SAVEPOINTs are the driver's own statements on the writer's connection (microseconds),
not SQLAlchemy's `begin_nested`, whose bookkeeping cost about 170 µs an action, more than the
SQL of a whole poll answer. SQLAlchemy does not see them, which is safe for everything but
two cases: when the ORM's flush fails, SQLAlchemy rolls the whole transaction back itself,
and SQLite may end a transaction itself (a full disk, an I/O error). The batch's earlier
actions are then lost as by a failed commit (`BatchLost`: they are delivered again), those
not begun run in the next batch, and after a failed flush this writer uses `begin_nested`,
which confines one to its action, for ten minutes, doubled at each failure again
(`_Savepoints`). A work never commits or rolls back the shared session itself.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.inline_sqlite import InlineConnection, driver_error
from storage.prebuilt import flush_pending, inline_connection

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]
Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]  # an action's value or failure

MAX_BATCH = 64  # actions sharing one commit
# After a failed flush, SQLAlchemy's savepoints for this long (doubled at each failure again).
HEAVY_AFTER_A_FAILED_FLUSH, HEAVY_AT_MOST = 600.0, 86_400.0  # seconds

log = logging.getLogger(__name__)


class GroupCommit:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        max_batch: int = MAX_BATCH,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.sessions = sessions
        self.max_batch = max_batch
        self._waiting: deque[tuple[Work, asyncio.Future[Any]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._savepoints = _Savepoints(clock)

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in a transaction shared with other actions; its result once committed.
        An exception from `work` is raised here (its changes rolled back, others' kept);
        BatchLost if the batch's transaction was lost with another action's."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="group-commit")
        return await done

    async def _drain(self) -> None:
        while self._waiting:
            batch = [
                self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))
            ]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        outcomes: list[Outcome] = []
        try:
            async with self.sessions() as session, session.begin():
                driver = await self._savepoints.driver(session)
                for work, done in batch:
                    try:
                        value = await self._savepoints.run(session, driver, work)
                    except _TransactionLost:
                        raise
                    except Exception as error:  # this action alone is rolled back
                        outcomes.append((done, None, error))
                        forget_rolled_back(session)
                    else:
                        outcomes.append((done, value, None))
        except _TransactionLost as lost:  # the earlier actions' work went with it
            ran = len(outcomes)
            gone = BatchLost(lost.error)
            outcomes = [(done, None, failure or gone) for done, _, failure in outcomes]
            outcomes.append((batch[ran][1], None, lost.error))
            self._waiting.extendleft(reversed(batch[ran + 1 :]))  # not begun: they go next
        except Exception as error:  # BEGIN or COMMIT failed: nothing of the batch is kept
            outcomes = [(done, None, error) for _, done in batch]
        except BaseException:  # stopped half-way: the callers must not wait for ever
            for _, done in batch:
                done.cancel()
            raise
        resolve(outcomes)


def resolve(outcomes: list[Outcome]) -> None:
    """Each action's caller told what came of it, once its batch is over; a caller that gave
    up waiting is skipped."""
    for done, value, failure in outcomes:
        if done.done():
            continue
        if failure is None:
            done.set_result(value)
        else:
            done.set_exception(failure)


class BatchLost(OperationalError):
    """An action that went well, lost with its batch's transaction (another action's failed
    flush, or SQLite ending the transaction): nothing of it is kept, and it comes again, as
    after a failed COMMIT. A database error (bot/channels/acks.py): retried, never counted
    against the delivery as a fault of its own."""

    def __init__(self, cause: Exception) -> None:
        super().__init__("the batch's transaction was lost", None, cause)


class _TransactionLost(Exception):
    """The batch's whole transaction is gone: SQLAlchemy rolled it back after a failed flush,
    or SQLite ended it (a savepoint's statement failed). `error`: the failing action's."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Savepoints:
    """Each action in a SAVEPOINT: the driver's own while no flush has failed, SQLAlchemy's
    `begin_nested` after that (the module's docstring says why), for a while: the heavy way
    costs about 170 µs an action for good, and the flush that failed may have been a one-off.
    If a flush fails again on the light way, its batch is delivered again once more and the
    heavy way lasts twice as long as before."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.light = True
        self.clock = clock
        self.heavy_for = HEAVY_AFTER_A_FAILED_FLUSH  # seconds, the next time
        self._light_again_at = 0.0

    async def driver(self, session: AsyncSession) -> InlineConnection | None:
        """The writer's driver connection, its transaction begun; None: SQLAlchemy's way."""
        if not self.light and self.clock() >= self._light_again_at:
            self.light = True
            log.info("the writer isolates actions with the driver's savepoints again")
        if not self.light:
            return None
        return await inline_connection(session)  # BEGIN IMMEDIATE (storage/db.py)

    async def run(self, session: AsyncSession, driver: InlineConnection | None, work: Work) -> Any:
        if driver is None:
            async with session.begin_nested():
                return await work(session)
        _statement(driver, "SAVEPOINT action")
        try:
            value = await work(session)
            await flush_pending(session)  # what the ORM still holds goes in, as begin_nested's does
        except Exception as error:
            if not session.is_active:  # SQLAlchemy rolled back the whole transaction
                self._give_up(error)
                raise _TransactionLost(error) from error
            _statement(driver, "ROLLBACK TO action", error)
            _statement(driver, "RELEASE action", error)
            raise
        _statement(driver, "RELEASE action")
        return value

    def _give_up(self, error: Exception) -> None:
        if self.light:
            log.warning(
                "the ORM's flush failed (%s): its batch is delivered again, and the writer "
                "isolates actions with SQLAlchemy's savepoints for the next %d s",
                type(error).__name__,
                self.heavy_for,
            )
            self._light_again_at = self.clock() + self.heavy_for
            self.heavy_for = min(2 * self.heavy_for, HEAVY_AT_MOST)
        self.light = False


def _statement(driver: InlineConnection, sql: str, failed: Exception | None = None) -> None:
    """A savepoint's statement; if SQLite has ended the transaction itself (a full disk, an
    I/O error), the batch is lost, for `failed` (the action's own error) or for this one."""
    try:
        driver.run(sql, ())
    except sqlite3.Error as error:
        raise _TransactionLost(failed or driver_error(sql, error)) from error


def forget_rolled_back(session: AsyncSession) -> None:
    """After an action's SAVEPOINT is rolled back, nothing it loaded or made stays in the
    shared session: SQLAlchemy does not see the driver's ROLLBACK TO, so every object it
    holds may name a row that is gone (one made from an inserted row, `as_loaded`, would sit
    in the identity map under an id the next action's INSERT may be given again), and a
    change the action left unflushed would be written by the next action's flush. Every
    action that went well flushed before it ended, so the others' changes are in the
    transaction already; what they need is read again."""
    session.expunge_all()
