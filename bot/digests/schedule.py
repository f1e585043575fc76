"""The jobs `civicbot serve` runs on APScheduler: the weekly digests at DIGEST_CRON in
TIMEZONE, retries of failed deliveries every minute, and housekeeping every ten minutes.

On start, a week whose digests were due while the server was down is planned and sent at
once (only the latest such week: an older digest is stale news)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.digests.delivery import Digests, tally_line
from bot.reports import campaign_summary
from bot.runtime import housekeeping, metrics
from bot.runtime.config import Settings, check_cron, check_timezone
from handlers import appeal_clock, mine, poll_outcome
from handlers.log_fields import fields
from handlers.pseudonyms import Pseudonyms
from handlers.weeks import Week
from storage import queries
from storage.files import FileStore
from storage.models import utcnow

STOP_GRACE = 30.0  # seconds running jobs get to finish when the service stops
RETRY_INTERVAL = 60  # seconds between looks for deliveries due for a retry
HOUSEKEEPING_INTERVAL = int(housekeeping.INTERVAL)
LOOKBACKS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=367))

log = logging.getLogger(__name__)


def zone(settings: Settings) -> ZoneInfo:
    return check_timezone(settings.timezone)


def trigger(settings: Settings) -> CronTrigger:
    return check_cron(settings.digest_cron, settings.timezone)


def last_fire(cron: CronTrigger, now: datetime) -> datetime | None:
    """When the trigger last fired at or before `now`; None if not within a year."""
    for lookback in LOOKBACKS:
        fire = cron.get_next_fire_time(None, now - lookback)
        if fire is None or fire > now:
            continue
        while (following := cron.get_next_fire_time(fire, fire + timedelta(seconds=1))) and (
            following <= now
        ):
            fire = following
        return fire
    return None


def week_for(fire: datetime) -> Week:
    """The week a run at `fire` reports on: the last one complete by then."""
    return Week.last_complete(fire.date())


class Jobs:
    def __init__(
        self, settings: Settings, digests: Digests, files: FileStore | None = None
    ) -> None:
        self.settings = settings
        self.digests = digests
        self.files = files  # residents' photos: the housekeeping sweeps orphans
        self.cron = trigger(settings)
        self.scheduler = AsyncIOScheduler(timezone=zone(settings))
        self._running: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def start(self) -> None:
        """Add the jobs and start; the catch-up runs as the scheduler's first job."""
        jobs: list[tuple[Callable[[], Awaitable[object]], dict[str, Any]]] = [
            (self.weekly, {"trigger": self.cron}),
            (self.catch_up, {}),  # no trigger: once, now
            (self.digests.deliver_due, {"trigger": "interval", "seconds": RETRY_INTERVAL}),
            (self.housekeeping, {"trigger": "interval", "seconds": HOUSEKEEPING_INTERVAL}),
            (self.campaign_summaries, self._hourly_and_now()),
            (self.followups, self._hourly_and_now()),
            (self.poll_results, self._hourly_and_now()),
            (self.appeal_clock, self._hourly_and_now()),
        ]
        for job, timing in jobs:
            self.scheduler.add_job(
                self._tracked,
                args=[job],
                id=job.__name__,
                name=job.__name__,  # in the scheduler's log lines, instead of "Jobs._tracked"
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
                **timing,
            )
        self.scheduler.start()

    def _hourly_and_now(self) -> dict[str, Any]:
        return {
            "trigger": "interval",
            "seconds": HOUSEKEEPING_INTERVAL,
            "next_run_time": datetime.now(zone(self.settings)),  # and once at start
        }

    async def stop(self) -> None:
        """Stop scheduling, let running jobs finish what they are sending, then shut down.

        The scheduler's shutdown cancels running jobs, and a database call cancelled
        half-way can leave its connection hanging; so the jobs are asked to stop first
        (workers finish the delivery in hand and claim no more) and waited for."""
        self._stopping = True  # a job whose task starts only now must not begin
        self.digests.stopping.set()
        if self.scheduler.running:
            self.scheduler.pause()
        await asyncio.sleep(0)  # job tasks created a moment ago start, and return at once
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def _tracked(self, job: Callable[[], Awaitable[object]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._stopping:
            return
        self._running.add(task)
        name, started = job.__name__, time.perf_counter()
        try:
            await job()
        except Exception:
            log.exception(
                "scheduled job %s failed; it runs again at its next time",
                name,
                extra=fields("job", job=name, outcome="failed", started=started),
            )
        else:
            metrics.LAST_JOB_RUN.labels(name).set_to_current_time()
            # Below INFO: an idle server runs a job a minute and says nothing of it.
            log.debug(
                "scheduled job %s done",
                name,
                extra=fields("job", job=name, outcome="done", started=started),
            )
        finally:
            self._running.discard(task)

    async def housekeeping(self) -> None:
        await housekeeping.sweep(self.digests.db, self.files)

    async def campaign_summaries(self) -> None:
        today = datetime.now(zone(self.settings)).date()
        await campaign_summary.summarize_ended(self.digests.db, today)

    async def followups(self) -> None:
        """Residents asked whether what was done four weeks ago really was."""
        async with self.digests.db.session() as session, session.begin():
            asked = await mine.ask_followups(session, utcnow())
        if asked:
            log.info("%d residents asked whether their wish was really done", asked)

    async def poll_results(self) -> None:
        """Closed polls' results to the people who answered them, once each."""
        pseudonyms = Pseudonyms.from_keys(self.settings.secret_keys())
        await poll_outcome.send_due(self.digests.db, pseudonyms, utcnow())

    async def appeal_clock(self) -> None:
        """Appeals' reminders to staff and overdue marks, each once (handlers/appeal_clock.py)."""
        await appeal_clock.tick(self.digests.db, utcnow())

    async def weekly(self) -> None:
        await self.send(week_for(datetime.now(zone(self.settings))))

    async def catch_up(self) -> Week | None:
        """Send the digests of the latest week that was due but never planned — if anyone
        was an official then: a new database, or officials who all came later, missed
        nothing."""
        fire = last_fire(self.cron, datetime.now(zone(self.settings)))
        if fire is None:
            return None
        week = week_for(fire)
        async with self.digests.db.session() as session:
            if await queries.digest_planned(session, str(week)):
                return None
            if not await queries.officials_before(session, fire):
                return None
        log.info("digests for %s were missed while the server was down; sending them now", week)
        await self.send(week)
        return week

    async def send(self, week: Week) -> None:
        tally = await self.digests.run(week)
        log.info("digests %s", tally_line(week, tally))
