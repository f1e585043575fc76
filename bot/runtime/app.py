"""The running service: database, web server and channels, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels import poll_message, registry
from bot.channels.notices import Notifier
from bot.channels.poll_sender import PollSender
from bot.channels.registration import Live
from bot.channels.sms import channel as sms_channel
from bot.channels.sms.channel import SmsChannel
from bot.channels.telegram import live as telegram_live
from bot.digests.delivery import Digests
from bot.digests.schedule import Jobs, trigger
from bot.reports import campaign_summary
from bot.runtime import housekeeping
from bot.runtime.config import Settings
from bot.runtime.database import file_store, prepare_database
from bot.runtime.i18n import Catalogues
from bot.web import metrics_routes
from bot.web import server as web_routes
from handlers import appeals, poll_admin
from handlers.log_fields import HINT, fields
from handlers.pseudonyms import Pseudonyms
from storage.db import Database

if TYPE_CHECKING:
    from bot.channels.telegram.channel import TelegramChannel  # only when Telegram is on

log = logging.getLogger(__name__)

NOTICE_GRACE = 10.0  # seconds a stop waits for the notice being sent


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogues = Catalogues()
        self.db: Database
        self.channels: dict[str, Live] = {}  # those turned on, by name (bot/channels/registry.py)
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None  # METRICS_PORT's site, if set
        self._notices: asyncio.Task[None] | None = None
        self._notifier: Notifier | None = None
        self._polls: PollSender | None = None  # sends planned polls, closes those due
        self._poll_tasks: list[asyncio.Task[None]] = []
        self.digests: Digests | None = None
        self.jobs: Jobs | None = None
        self._database_open = False
        self.pseudonyms: Pseudonyms  # set by start(): keys for hashes (the web chat's visitors)
        self.files = file_store(settings)  # residents' photos

    async def start(self) -> None:
        # Fails early without a key, and creates one on the first start on SQLite; a bad
        # DIGEST_CRON or TIMEZONE stops the start before the database is touched.
        self.pseudonyms = Pseudonyms.from_keys(self.settings.secret_keys())
        trigger(self.settings)
        self.db = await prepare_database(self.settings)
        self._database_open = True
        self.channels = {
            channel.name: channel.build(self)
            for channel in registry.CHANNELS
            if channel.enabled(self)
        }
        senders = registry.senders(self.channels)
        await housekeeping.sweep(self.db, self.files)  # before anything reads a stale draft
        self.digests = Digests(self.settings, self.db, self.catalogues, senders=senders)
        for running in self.channels.values():
            running.serve_digests(self.digests)  # for /digest
        appeals.configure(appeals.Rules(self.settings.appeal_answer_days, self.settings.timezone))
        self.jobs = Jobs(self.settings, self.digests, self.files)
        self.jobs.start()
        summary_files = partial(
            campaign_summary.summary_files, self.db, self.catalogues, self.settings.timezone
        )
        notifier = self._notifier = Notifier(
            self.db, self.catalogues, senders, files={campaign_summary.SUMMARY: summary_files}
        )
        self._notices = asyncio.create_task(notifier.run_forever(), name="notices")
        poll_admin.configure(
            poll_admin.Rules(
                deputies_send=self.settings.poll_deputies_send,
                sms_price=self.settings.sms_price,
                whatsapp_template=bool(self.settings.twilio_whatsapp_content_sid),
                sms_cap=self.settings.poll_sms_cap,
                segments_of=poll_message.segments_of(self.catalogues),
            )
        )
        self._polls = PollSender(self.db, self.catalogues, senders, self.settings.timezone)
        self._poll_tasks = self._polls.tasks()
        self._runner = web.AppRunner(web_routes.build(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        # The hints first (the web chat's address leads), then what is served.
        for channel in registry.CHANNELS:
            live = self.channels.get(channel.name)
            if live is not None:
                await live.start(self.base_url)
            elif channel.off:
                log.info(channel.off, extra=fields(HINT))
        log.info("serving on %s (/healthz, /metrics)", self.base_url)
        await self._serve_metrics()

    async def _serve_metrics(self) -> None:
        """/metrics on METRICS_HOST:METRICS_PORT, when set (and then not on PORT)."""
        if self.settings.metrics_port is None:
            return
        self._metrics_runner = web.AppRunner(metrics_routes.site(self), access_log=None)
        await self._metrics_runner.setup()
        host, port = self.settings.metrics_host, self.settings.metrics_port
        await web.TCPSite(self._metrics_runner, host, port).start()
        log.info("serving /metrics on %s", self.metrics_url)

    async def _stop_polls(self) -> None:
        """The batch in hand is finished (a claim cut off waits out its lease)."""
        if self._polls is None:
            return
        self._polls.stopping.set()
        if self._poll_tasks:
            _, late = await asyncio.wait(set(self._poll_tasks), timeout=NOTICE_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._polls, self._poll_tasks = None, []

    @property
    def metrics_url(self) -> str | None:
        """Where /metrics is served on a site of its own (METRICS_PORT), if it is."""
        if self._metrics_runner is None:
            return None
        host, port = self.settings.metrics_host, self._metrics_runner.addresses[0][1]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    @property
    def telegram(self) -> TelegramChannel | None:
        """The Telegram channel, while it runs (for its webhook and the public pages)."""
        return telegram_live.running(self.channels)

    @property
    def sms(self) -> SmsChannel | None:
        """The SMS channel, while it runs (for its webhooks)."""
        return sms_channel.running(self.channels)

    @property
    def port(self) -> int:
        assert self._runner is not None
        return int(self._runner.addresses[0][1])

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def stop(self) -> None:
        """Stop everything; safe to call twice."""
        if self.jobs is not None:
            await self.jobs.stop()
            self.jobs = None
        if self._notices is not None:
            assert self._notifier is not None
            self._notifier.stopping.set()  # the notice in hand is finished
            _, late = await asyncio.wait({self._notices}, timeout=NOTICE_GRACE)
            for task in late:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._notices = None
        await self._stop_polls()
        running, self.channels = self.channels, {}
        for live in running.values():  # in the registry's order
            await live.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
            self._metrics_runner = None
        await self.files.close()
        if self._database_open:
            await self.db.close()
            self._database_open = False
