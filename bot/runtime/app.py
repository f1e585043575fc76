"""The running service: database, web server and channels, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from aiohttp import web

from bot.channels.notices import Notifier
from bot.channels.sms.channel import SmsChannel
from bot.channels.sms.providers import providers_for
from bot.channels.telegram.channel import TelegramChannel
from bot.digests.delivery import Digests
from bot.digests.schedule import Jobs, trigger
from bot.reports import campaign_summary
from bot.runtime import housekeeping
from bot.runtime.config import Settings
from bot.runtime.i18n import Catalogues
from bot.web import metrics_routes
from bot.web import server as web_routes
from handlers.pseudonyms import Pseudonyms
from storage.db import Database, migrate_if_behind
from storage.files import FileStore, FolderStore
from storage.s3 import Bucket, S3Store
from storage.seed import seed_places

log = logging.getLogger(__name__)

NOTICE_GRACE = 10.0  # seconds a stop waits for the notice being sent

TELEGRAM_OFF = (
    "Telegram channel is off: set TELEGRAM_BOT_TOKEN to turn it on "
    "(and PUBLIC_BASE_URL to use a webhook instead of long polling)."
)
SMS_OFF = (
    "SMS channel is off: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER "
    "(and PUBLIC_BASE_URL) to turn it on, or SMS_PROVIDER=android and the ANDROID_GATEWAY_* "
    "settings for a phone."
)
WHATSAPP_UNSENT = (
    "WhatsApp: TWILIO_WHATSAPP_FROM is not set, so staff answers, notices and digests cannot "
    "reach WhatsApp residents (their own messages are still answered)."
)
SMS_UNSIGNED = (
    "SMS: PUBLIC_BASE_URL is not set, so Twilio's signatures cannot be checked "
    "and every inbound message is refused (403)."
)


def file_store(settings: Settings) -> FileStore:
    """Where residents' photos are kept: MEDIA_S3_BUCKET, else the folder (MEDIA_DIR)."""
    if settings.media_s3_bucket:
        bucket = Bucket(
            name=settings.media_s3_bucket,
            endpoint_url=settings.media_s3_endpoint,
            region=settings.media_s3_region,
            access_key_id=settings.media_s3_access_key_id,
            secret_access_key=settings.media_s3_secret_access_key,
        )
        return S3Store(bucket)
    return FolderStore(settings.media_folder())


async def prepare_database(settings: Settings) -> Database:
    """Apply migrations and seed the starter municipalities; the database is then ready."""
    db = Database(settings.database_url)
    try:
        await migrate_if_behind(db)
        async with db.session() as session, session.begin():
            added = await seed_places(session)
    except BaseException:
        await db.close()
        raise
    if added:
        log.info("seeded %d regions and municipalities", added)
    return db


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogues = Catalogues()
        self.db: Database
        self.telegram: TelegramChannel | None = None
        self.sms: SmsChannel | None = None
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None  # METRICS_PORT's site, if set
        self._notices: asyncio.Task[None] | None = None
        self._notifier: Notifier | None = None
        self.digests: Digests | None = None
        self.jobs: Jobs | None = None
        self._database_open = False
        self.pseudonyms: Pseudonyms  # set by start(): keys for hashes (the web chat's visitors)
        self.files = file_store(settings)  # residents' photos

    async def start(self) -> None:
        # Fails early without a key, and creates one on the first start on SQLite; a bad
        # DIGEST_CRON or TIMEZONE stops the start before the database is touched.
        pseudonyms = self.pseudonyms = Pseudonyms.from_keys(self.settings.secret_keys())
        trigger(self.settings)
        self.db = await prepare_database(self.settings)
        self._database_open = True
        if self.settings.telegram_bot_token:
            self.telegram = TelegramChannel(
                self.settings, self.db, self.catalogues, pseudonyms, self.files
            )
        if self.settings.sms_enabled:
            provider, whatsapp = providers_for(self.settings)
            self.sms = SmsChannel(
                self.settings,
                self.db,
                self.catalogues,
                pseudonyms,
                provider,
                whatsapp=whatsapp,
                files=self.files,
            )
        await housekeeping.sweep(self.db, self.files)  # before anything reads a stale draft
        self.digests = Digests(
            self.settings,
            self.db,
            self.catalogues,
            bot=self.telegram.application.bot if self.telegram else None,
            sms=self.sms,
            outbox=self.telegram.outbox if self.telegram else None,
            telegram_ready=self.telegram.ready if self.telegram else None,
        )
        if self.telegram is not None:
            self.telegram.digests = self.digests  # for /digest
        self.jobs = Jobs(self.settings, self.digests, self.files)
        self.jobs.start()
        summary_files = partial(
            campaign_summary.summary_files, self.db, self.catalogues, self.settings.timezone
        )
        notifier = self._notifier = Notifier(
            self.db,
            self.catalogues,
            self.telegram,
            self.sms,
            files={campaign_summary.SUMMARY: summary_files},
        )
        self._notices = asyncio.create_task(notifier.run_forever(), name="notices")
        self._runner = web.AppRunner(web_routes.build(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        log.info("serving on %s (/healthz, /metrics)", self.base_url)
        await self._serve_metrics()
        if self.settings.web_chat:
            print(f"Open {self.base_url}/try to try the bot in a browser", flush=True)
        if self.telegram is None:
            print(TELEGRAM_OFF, flush=True)
        else:
            await self.telegram.start()
        if self.sms is None:
            print(SMS_OFF, flush=True)
        elif not self.settings.public_base_url and self.settings.sms_provider == "twilio":
            print(SMS_UNSIGNED, flush=True)
        if self.sms is not None and not self.sms.can_start_whatsapp:
            print(WHATSAPP_UNSENT, flush=True)

    async def _serve_metrics(self) -> None:
        """/metrics on METRICS_HOST:METRICS_PORT, when set (and then not on PORT)."""
        if self.settings.metrics_port is None:
            return
        self._metrics_runner = web.AppRunner(metrics_routes.site(self), access_log=None)
        await self._metrics_runner.setup()
        host, port = self.settings.metrics_host, self.settings.metrics_port
        await web.TCPSite(self._metrics_runner, host, port).start()
        log.info("serving /metrics on %s", self.metrics_url)

    @property
    def metrics_url(self) -> str | None:
        """Where /metrics is served on a site of its own (METRICS_PORT), if it is."""
        if self._metrics_runner is None:
            return None
        host, port = self.settings.metrics_host, self._metrics_runner.addresses[0][1]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

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
        if self.telegram is not None:
            await self.telegram.stop()
            self.telegram = None
        if self.sms is not None:
            await self.sms.drain()  # answers to relayed messages under way
            await self.sms.close()
            self.sms = None
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
