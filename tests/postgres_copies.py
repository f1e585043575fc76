"""Copies of the session's PostgreSQL template, each made while the test before it runs.

`CREATE DATABASE … TEMPLATE` copies PostgreSQL's own catalogues along with ours (about 8 MB)
and takes ~0.4 s, as long as a short test itself. A thread with its own event loop and
connection keeps one copy ready; a test takes it and drops it when done.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import uuid

import asyncpg

READY_WAIT = 120.0  # seconds a test waits for its copy before failing (a stuck server)
COPY_TRIES = 10  # a template in use for longer than ~2 s is a fault, not autovacuum


class PostgresCopies:
    def __init__(self, admin_dsn: str, template: str) -> None:
        self.admin_dsn = admin_dsn
        self.template = template
        self._ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="postgres-copies", daemon=True)
        self._thread.start()

    def take(self) -> str:
        """The name of a fresh copy, now the test's to drop; the copier's failure, if it
        failed (for this test and every one after it)."""
        if self._failed is not None:
            raise self._failed
        made = self._ready.get(timeout=READY_WAIT)
        if isinstance(made, BaseException):
            self._failed = made
            raise made
        return made

    def close(self) -> None:
        """Stop making copies and drop the one not taken."""
        self._stopping.set()
        self._thread.join()
        with contextlib.suppress(queue.Empty):
            left = self._ready.get_nowait()
            if isinstance(left, str):
                asyncio.run(self._drop(left))

    async def _drop(self, name: str) -> None:
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    def _run(self) -> None:
        asyncio.run(self._make_copies())

    async def _make_copies(self) -> None:
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            while not self._stopping.is_set():
                name = f"civicbot_test_{uuid.uuid4().hex[:12]}"
                try:
                    await self._copy(admin, name)
                except Exception as error:  # the test that takes it fails with the cause
                    await asyncio.to_thread(self._hand_over, error)
                    return
                if not await asyncio.to_thread(self._hand_over, name):
                    await self._drop(name)
        finally:
            await admin.close()

    async def _copy(self, admin: asyncpg.Connection, name: str) -> None:
        """One copy; again while something else (autovacuum, say) is in the template."""
        for attempt in range(COPY_TRIES):
            try:
                await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                return
            except asyncpg.ObjectInUseError:
                if attempt == COPY_TRIES - 1:
                    raise
                await asyncio.sleep(0.2)

    def _hand_over(self, made: str | BaseException) -> bool:
        """Wait until a test has room for what was made; False if the session ends first."""
        while not self._stopping.is_set():
            try:
                self._ready.put(made, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
