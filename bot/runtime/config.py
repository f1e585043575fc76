"""Settings read from the environment (docs/architecture.md §3)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./civicbot.db"
DEFAULT_TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_TWILIO_API_BASE_URL = "https://api.twilio.com"
DEFAULT_ANDROID_GATEWAY_URL = "https://api.sms-gate.app/3rdparty/v1"
SECRET_FILE_NAME = "civicbot.secret"
MEDIA_FOLDER = "media"


# Every setting, as `civicbot serve --help` lists them (README "Configuration" says more).
ENVIRONMENT = (
    ("DATABASE_URL", "SQLAlchemy async URL (default: sqlite+aiosqlite:///./civicbot.db)"),
    ("SECRET_KEY", "keys for pseudonyms and sealed signatures (SQLite: made once)"),
    ("SECRET_KEY_PREVIOUS", "while rotating: the keys SECRET_KEY replaced, comma-separated"),
    ("TELEGRAM_BOT_TOKEN", "turns the Telegram channel on"),
    ("TELEGRAM_API_BASE_URL", "Bot API base (default: https://api.telegram.org/bot)"),
    ("TELEGRAM_WEBHOOK_SECRET", "secret Telegram sends (default: derived from SECRET_KEY)"),
    ("PUBLIC_BASE_URL", "this server's public https address: webhooks instead of polling"),
    ("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER", "turn SMS on"),
    ("TWILIO_WHATSAPP_FROM", "whatsapp:+… sender for messages the bot starts"),
    (
        "TWILIO_WHATSAPP_CONTENT_SID",
        "approved WhatsApp template (HX…) with one {{1}}: late messages",
    ),
    ("TWILIO_API_BASE_URL", "Twilio API base (default: https://api.twilio.com)"),
    (
        "SMS_PROVIDER",
        "twilio (default) or android: SMS through a phone's SIM (SMS Gateway for Android)",
    ),
    ("ANDROID_GATEWAY_URL", "the gateway's API: the phone's local address or its cloud (default)"),
    ("ANDROID_GATEWAY_LOGIN, ANDROID_GATEWAY_PASSWORD", "the gateway's API credentials"),
    ("ANDROID_GATEWAY_SIGNING_KEY", "the app's webhook signing key: POST /sms/android is checked"),
    ("ANDROID_GATEWAY_DEVICE", "optional: the phone's device id; events from others are refused"),
    ("ANDROID_GATEWAY_SIM", "optional: the SIM slot (1, 2…) that is ours in a dual-SIM phone"),
    ("TWILIO_WEBHOOK_OVERRIDES", "the #rc=…&rp=… overrides on Twilio's webhook URL"),
    ("HOST, PORT", "where the web server listens (default: 127.0.0.1, 8080)"),
    ("DIGEST_CRON", "when weekly digests go out (default: 0 9 * * mon)"),
    ("TIMEZONE", "the digests' weeks and the days initiatives open (default: Asia/Bishkek)"),
    ("LOG_FORMAT", "text (default) or json: one JSON object a line, for log collectors"),
    ("WEB_CHAT", "on (default) or off: the web chat at /try"),
    ("SEND_GIVE_UP_MINUTES", "how long a message waits out rate limits before it fails (10)"),
    ("MEDIA_DIR", "folder for residents' photos (default: media/ beside the SQLite file)"),
    ("MEDIA_S3_BUCKET", "an S3-compatible bucket for the photos instead (several machines)"),
    ("MEDIA_S3_ENDPOINT", "the bucket's S3 API address, unless AWS (MinIO, a provider's)"),
    ("MEDIA_S3_REGION", "the bucket's region (default: us-east-1)"),
    ("MEDIA_S3_ACCESS_KEY_ID, MEDIA_S3_SECRET_ACCESS_KEY", "credentials for the bucket"),
    (
        "TRUSTED_PROXIES",
        "reverse proxies (IPs, CIDRs, comma-separated) whose X-Forwarded-For/Forwarded is believed",
    ),
    ("METRICS_TOKEN", "/metrics needs Authorization: Bearer TOKEN (else: loopback only)"),
    ("METRICS_HOST, METRICS_PORT", "serve /metrics there only, not on PORT (default: off)"),
    (
        "WEB_VISITORS_PER_HOUR, WEB_WISHES_PER_HOUR",
        "web chat: new visitors and wishes an hour per client address (default: 10, 30)",
    ),
)


def proxies(text: str) -> tuple[str, ...]:
    """TRUSTED_PROXIES as networks (an address is a network of one); ValueError for a part
    that is neither."""
    found = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(found)


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


SECRET_KEY_LENGTH = 32  # characters, at least
METRICS_TOKEN_LENGTH = 16
PLACEHOLDER = "change-me"  # how .env.example's values begin


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE {name!r} is not a known time zone") from None


def check_cron(line: str, timezone: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(line, timezone=check_timezone(timezone))
    except ValueError as error:
        raise ConfigError(f"DIGEST_CRON {line!r} is not a crontab line ({error})") from None


def _url(value: str | None) -> str | None:
    if value is not None and urlsplit(value).scheme not in ("http", "https"):
        raise ValueError(f"{value!r} is not an http(s) address")
    return value


class _Environment(BaseSettings):
    """The process's environment as settings, read and checked in one place (pydantic-
    settings); `Settings.from_env` turns it into the `Settings` the code uses."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", env_ignore_empty=True, frozen=True
    )

    DATABASE_URL: str = DEFAULT_DATABASE_URL
    TELEGRAM_BOT_TOKEN: str | None = None
    TELEGRAM_API_BASE_URL: str = DEFAULT_TELEGRAM_API_BASE_URL
    TELEGRAM_WEBHOOK_SECRET: str | None = None
    PUBLIC_BASE_URL: str | None = None
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_FROM_NUMBER: str | None = None
    TWILIO_WHATSAPP_FROM: str | None = None
    TWILIO_WHATSAPP_CONTENT_SID: str | None = None
    SMS_PROVIDER: Literal["twilio", "android"] = "twilio"
    ANDROID_GATEWAY_URL: str = DEFAULT_ANDROID_GATEWAY_URL
    ANDROID_GATEWAY_LOGIN: str | None = None
    ANDROID_GATEWAY_PASSWORD: str | None = None
    ANDROID_GATEWAY_SIGNING_KEY: str | None = None
    ANDROID_GATEWAY_DEVICE: str | None = None
    ANDROID_GATEWAY_SIM: int | None = None
    TWILIO_API_BASE_URL: str = DEFAULT_TWILIO_API_BASE_URL
    TWILIO_WEBHOOK_OVERRIDES: str | None = None
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8080, ge=0, le=65535)
    SECRET_KEY: str | None = None
    SECRET_KEY_PREVIOUS: str | None = None
    DIGEST_CRON: str = "0 9 * * mon"
    TIMEZONE: str = "Asia/Bishkek"
    LOG_FORMAT: Literal["text", "json"] = "text"
    WEB_CHAT: bool = True
    SEND_GIVE_UP_MINUTES: float = Field(default=10.0, gt=0, le=24 * 60)
    MEDIA_DIR: str | None = None
    MEDIA_S3_BUCKET: str | None = None
    MEDIA_S3_ENDPOINT: str | None = None
    MEDIA_S3_REGION: str = "us-east-1"
    MEDIA_S3_ACCESS_KEY_ID: str | None = None
    MEDIA_S3_SECRET_ACCESS_KEY: str | None = None
    TRUSTED_PROXIES: str | None = None
    METRICS_TOKEN: str | None = None
    METRICS_HOST: str = "127.0.0.1"
    METRICS_PORT: int | None = Field(default=None, ge=0, le=65535)
    WEB_VISITORS_PER_HOUR: int = Field(default=10, ge=1)
    WEB_WISHES_PER_HOUR: int = Field(default=30, ge=1)

    @field_validator("DATABASE_URL")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        return value

    @field_validator(
        "PUBLIC_BASE_URL", "TELEGRAM_API_BASE_URL", "TWILIO_API_BASE_URL", "MEDIA_S3_ENDPOINT"
    )
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return _url(value)

    @field_validator("SECRET_KEY")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower().startswith(PLACEHOLDER):
            raise ValueError("still the example's placeholder: `civicbot secret new` makes one")
        if len(value) < SECRET_KEY_LENGTH:
            raise ValueError(
                f"{len(value)} characters; use at least {SECRET_KEY_LENGTH} "
                "(`civicbot secret new` makes one)"
            )
        return value

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _proxies(cls, value: str | None) -> str | None:
        if value is not None:
            proxies(value)  # ValueError naming the one that is not an address or network
        return value

    @field_validator("METRICS_TOKEN")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        if value is not None and len(value) < METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"{len(value)} characters; use at least {METRICS_TOKEN_LENGTH} "
                "(`civicbot secret new` makes one)"
            )
        return value

    @model_validator(mode="after")
    def _schedule(self) -> _Environment:
        try:
            check_cron(self.DIGEST_CRON, self.TIMEZONE)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self

    def settings(self) -> Settings:
        public, overrides = self.PUBLIC_BASE_URL, self.TWILIO_WEBHOOK_OVERRIDES
        previous = self.SECRET_KEY_PREVIOUS or ""
        return Settings(
            database_url=self.DATABASE_URL,
            telegram_bot_token=self.TELEGRAM_BOT_TOKEN,
            telegram_api_base_url=self.TELEGRAM_API_BASE_URL,
            telegram_webhook_secret=self.TELEGRAM_WEBHOOK_SECRET,
            public_base_url=public.rstrip("/") if public else None,
            twilio_account_sid=self.TWILIO_ACCOUNT_SID,
            twilio_auth_token=self.TWILIO_AUTH_TOKEN,
            twilio_from_number=self.TWILIO_FROM_NUMBER,
            twilio_whatsapp_from=self.TWILIO_WHATSAPP_FROM,
            twilio_whatsapp_content_sid=self.TWILIO_WHATSAPP_CONTENT_SID,
            sms_provider=self.SMS_PROVIDER,
            android_gateway_url=self.ANDROID_GATEWAY_URL,
            android_gateway_login=self.ANDROID_GATEWAY_LOGIN,
            android_gateway_password=self.ANDROID_GATEWAY_PASSWORD,
            android_gateway_signing_key=self.ANDROID_GATEWAY_SIGNING_KEY,
            android_gateway_device=self.ANDROID_GATEWAY_DEVICE,
            android_gateway_sim=self.ANDROID_GATEWAY_SIM,
            twilio_webhook_overrides=(overrides or "").strip().lstrip("#") or None,
            twilio_api_base_url=self.TWILIO_API_BASE_URL.rstrip("/"),
            host=self.HOST,
            port=self.PORT,
            secret_key=self.SECRET_KEY,
            secret_key_previous=tuple(k.strip() for k in previous.split(",") if k.strip()),
            digest_cron=self.DIGEST_CRON,
            timezone=self.TIMEZONE,
            log_format=self.LOG_FORMAT,
            web_chat=self.WEB_CHAT,
            send_give_up_minutes=self.SEND_GIVE_UP_MINUTES,
            media_dir=self.MEDIA_DIR,
            media_s3_bucket=self.MEDIA_S3_BUCKET,
            media_s3_endpoint=self.MEDIA_S3_ENDPOINT,
            media_s3_region=self.MEDIA_S3_REGION,
            media_s3_access_key_id=self.MEDIA_S3_ACCESS_KEY_ID,
            media_s3_secret_access_key=self.MEDIA_S3_SECRET_ACCESS_KEY,
            trusted_proxies=proxies(self.TRUSTED_PROXIES or ""),
            metrics_token=self.METRICS_TOKEN,
            metrics_host=self.METRICS_HOST,
            metrics_port=self.METRICS_PORT,
            web_visitors_per_hour=self.WEB_VISITORS_PER_HOUR,
            web_wishes_per_hour=self.WEB_WISHES_PER_HOUR,
        )


class _GivenEnvironment(_Environment):
    """The same, from a mapping alone (tests, tools): the process's environment unread."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    telegram_bot_token: str | None = None
    telegram_api_base_url: str = DEFAULT_TELEGRAM_API_BASE_URL
    telegram_webhook_secret: str | None = None
    public_base_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    # Our addition to the contract: the WhatsApp sender ("whatsapp:+996…") for messages we
    # start; replies to residents go back through TwiML and need no sender.
    twilio_whatsapp_from: str | None = None
    # Our addition: an approved WhatsApp template (Content API, "HX…") whose one variable
    # {{1}} carries a message we start more than 24 hours after the resident last wrote.
    # Without it such a message goes by SMS to the same number.
    twilio_whatsapp_content_sid: str | None = None
    twilio_api_base_url: str = DEFAULT_TWILIO_API_BASE_URL
    # Our addition (issue 16): SMS through SMS Gateway for Android instead of Twilio.
    sms_provider: str = "twilio"
    android_gateway_url: str = DEFAULT_ANDROID_GATEWAY_URL
    android_gateway_login: str | None = None
    android_gateway_password: str | None = None
    android_gateway_signing_key: str | None = None
    android_gateway_device: str | None = None
    android_gateway_sim: int | None = None  # a dual-SIM phone: the slot that is ours
    # Our addition: the connection overrides put after '#' on the webhook URL in Twilio's
    # console ("rc=5&rp=all", so that Twilio retries a 5xx). Twilio may sign the URL with
    # them; signatures over either form are accepted.
    twilio_webhook_overrides: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str | None = None
    # Our addition: keys SECRET_KEY replaced, newest first (comma-separated). Data made under
    # them stays readable while `civicbot secret rotate` moves it to SECRET_KEY.
    secret_key_previous: tuple[str, ...] = ()
    digest_cron: str = "0 9 * * mon"
    timezone: str = "Asia/Bishkek"
    # Our addition: "json" for one JSON object a log line (for log collectors), else text.
    log_format: str = "text"
    # Our addition: the web chat at /try (WEB_CHAT=off turns it off).
    web_chat: bool = True
    # Our addition: minutes a message waits out a channel's rate limits (Telegram's 429s) before
    # it is given up — logged, counted and recorded for the person, never dropped silently.
    send_give_up_minutes: float = 10.0
    # Our addition (issue 17): where residents' photos are kept; see `media_folder`.
    media_dir: str | None = None
    # Our addition: an S3-compatible bucket for the photos instead of the folder.
    media_s3_bucket: str | None = None
    media_s3_endpoint: str | None = None
    media_s3_region: str = "us-east-1"
    media_s3_access_key_id: str | None = None
    media_s3_secret_access_key: str | None = None
    # Our addition (issue 25): the reverse proxies whose forwarding headers tell the client's
    # address and scheme (bot/web/clients.py), as networks ("10.0.0.5/32", "172.30.80.0/24").
    trusted_proxies: tuple[str, ...] = ()
    # Our addition: /metrics only with this bearer token, or only on a bind of its own
    # (port None: none); without either, only for a loopback peer (bot/web/metrics_routes.py).
    metrics_token: str | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # Our addition: new web chat visitors and web wishes an hour from one client address.
    web_visitors_per_hour: int = 10
    web_wishes_per_hour: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment (or `env`), each checked: ConfigError, one line
        naming the variable, for the first that is wrong."""
        try:
            if env is None:
                read = _Environment()
            else:  # only what `env` says: nothing from the process's environment
                given = {name: value.strip() for name, value in env.items() if value.strip()}
                read = _GivenEnvironment.model_validate(given)
        except ValidationError as error:
            problem = error.errors()[0]
            reason = problem["msg"].removeprefix("Value error, ")
            name = ".".join(str(part) for part in problem["loc"])
            raise ConfigError(f"{name}: {reason}" if name else reason) from None
        return read.settings()

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or on SQLite one generated once and kept beside the database file."""
        return self.secret_keys()[0]

    def secret_keys(self) -> tuple[str, ...]:
        """The key to use, then the keys it replaced (still read, never written with).

        From SECRET_KEY and SECRET_KEY_PREVIOUS; or, on SQLite without SECRET_KEY, from the key
        file beside the database: its first line, then older keys on the lines below it."""
        if self.secret_key:
            return (self.secret_key, *self.secret_key_previous)
        if not self.is_sqlite:
            raise ConfigError("SECRET_KEY must be set when DATABASE_URL is not SQLite")
        path = self.secret_file()
        if path is None:
            return (secrets.token_urlsafe(32),)  # nothing persists, so neither need the key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())

    def secret_file(self) -> Path | None:
        """The key file of an SQLite database kept on disk."""
        database = make_url(self.database_url).database
        if not self.is_sqlite or not database or database == ":memory:":
            return None
        return Path(database).resolve().parent / SECRET_FILE_NAME

    def media_folder(self) -> Path:
        """MEDIA_DIR, or media/ beside the SQLite file (so that a backup of that folder
        holds both), or media/ in the working folder."""
        if self.media_dir:
            return Path(self.media_dir).resolve()
        database = make_url(self.database_url).database
        if self.is_sqlite and database and database != ":memory:":
            return Path(database).resolve().parent / MEDIA_FOLDER
        return Path(MEDIA_FOLDER).resolve()

    def webhook_secret(self) -> str:
        """The secret Telegram must send; derived from SECRET_KEY when not set explicitly."""
        return self.webhook_secrets()[0]

    def webhook_secrets(self) -> tuple[str, ...]:
        """Secrets accepted from Telegram: during a key rotation, also the one derived from a
        previous key, until setWebhook has given Telegram the new one."""
        if self.telegram_webhook_secret:
            return (self.telegram_webhook_secret,)
        return tuple(
            hmac.new(key.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()
            for key in self.secret_keys()
        )

    @property
    def sms_enabled(self) -> bool:
        if self.sms_provider == "android":
            return bool(
                self.android_gateway_login
                and self.android_gateway_password
                and self.android_gateway_signing_key
            )
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    def public_url(self, path: str) -> str | None:
        return f"{self.public_base_url}{path}" if self.public_base_url else None

    @property
    def telegram_webhook_url(self) -> str | None:
        if not self.public_base_url:
            return None
        return f"{self.public_base_url}/telegram/webhook"
