"""Settings: each declared once, as a field of `Settings` (docs/architecture.md §3).

A field's name is its attribute; its upper-cased name is its environment variable; its
description is its line in `civicbot serve --help`. `Settings(...)` takes the values as given
(tests, tools); `Settings.from_env()` reads the environment and a `.env` file and checks every
value, so that a wrong one stops the start with one line naming it."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import AliasGenerator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.db import DEFAULT_POOL_SIZE, sqlite_path

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./civicbot.db"
DEFAULT_TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_TWILIO_API_BASE_URL = "https://api.twilio.com"
DEFAULT_ANDROID_GATEWAY_URL = "https://api.sms-gate.app/3rdparty/v1"
SECRET_FILE_NAME = "civicbot.secret"
MEDIA_FOLDER = "media"
DOTENV = Path(".env")  # in the working directory, as .env.example says


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
# FILE_MODE: the bot's user reads and writes; its group may read (0640) or write (0660); the
# rest of the world never (a database of residents' wishes, 0644, is not a choice offered).
FILE_MODES = (0o600, 0o640, 0o660)
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


class Settings(BaseSettings):
    """Every setting, with its default and its line of help. Constructed directly, it takes
    exactly what it is given: neither the environment nor a .env file is read, and only the
    fields' types and ranges are checked (`from_env` checks the rest)."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=str.upper),
        populate_by_name=True,  # Settings(port=…) as well as the variable's name
        case_sensitive=True,
        extra="forbid",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # what the caller passes, nothing else

    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="SQLAlchemy async URL")
    # Our addition: a fixed pool, no overflow (storage/db.py says why).
    database_pool_size: int = Field(
        default=DEFAULT_POOL_SIZE,
        ge=1,
        le=1000,
        description="PostgreSQL: the connections each worker keeps for its work",
    )
    secret_key: str | None = Field(
        default=None, description="keys for pseudonyms and sealed signatures (SQLite: made once)"
    )
    # Our addition: keys SECRET_KEY replaced, newest first (comma-separated). Data made under
    # them stays readable while `civicbot secret rotate` moves it to SECRET_KEY.
    secret_key_previous: tuple[str, ...] = Field(
        default=(), description="while rotating: the keys SECRET_KEY replaced, comma-separated"
    )
    telegram_bot_token: str | None = Field(
        default=None, description="turns the Telegram channel on"
    )
    telegram_api_base_url: str = Field(
        default=DEFAULT_TELEGRAM_API_BASE_URL, description="Bot API base"
    )
    telegram_webhook_secret: str | None = Field(
        default=None, description="secret Telegram sends (unset: derived from SECRET_KEY)"
    )
    public_base_url: str | None = Field(
        default=None, description="this server's public https address: webhooks instead of polling"
    )
    twilio_account_sid: str | None = Field(
        default=None, description="with TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER: turns SMS on"
    )
    twilio_auth_token: str | None = Field(
        default=None, description="the Twilio account's auth token"
    )
    twilio_from_number: str | None = Field(default=None, description="the number SMS go out from")
    # Our addition to the contract: the WhatsApp sender ("whatsapp:+996…") for messages we
    # start; replies to residents go back through TwiML and need no sender.
    twilio_whatsapp_from: str | None = Field(
        default=None, description="whatsapp:+… sender for messages the bot starts"
    )
    # Our addition: an approved WhatsApp template (Content API, "HX…") whose one variable
    # {{1}} carries a message we start more than 24 hours after the resident last wrote.
    # Without it such a message goes by SMS to the same number.
    twilio_whatsapp_content_sid: str | None = Field(
        default=None, description="approved WhatsApp template (HX…) with one {{1}}: late messages"
    )
    twilio_api_base_url: str = Field(
        default=DEFAULT_TWILIO_API_BASE_URL, description="Twilio API base"
    )
    # Our addition (issue 16): SMS through SMS Gateway for Android instead of Twilio.
    sms_provider: Literal["twilio", "android"] = Field(
        default="twilio",
        description="twilio or android: SMS through a phone's SIM (SMS Gateway for Android)",
    )
    android_gateway_url: str = Field(
        default=DEFAULT_ANDROID_GATEWAY_URL,
        description="the gateway's API: the phone's local address or its cloud",
    )
    android_gateway_login: str | None = Field(default=None, description="the gateway's API login")
    android_gateway_password: str | None = Field(
        default=None, description="the gateway's API password"
    )
    android_gateway_signing_key: str | None = Field(
        default=None, description="the app's webhook signing key: POST /sms/android is checked"
    )
    android_gateway_device: str | None = Field(
        default=None, description="optional: the phone's device id; events from others are refused"
    )
    android_gateway_sim: int | None = Field(
        default=None, description="optional: the SIM slot (1, 2…) that is ours in a dual-SIM phone"
    )
    # Our addition: the connection overrides put after '#' on the webhook URL in Twilio's
    # console ("rc=5&rp=all", so that Twilio retries a 5xx). Twilio may sign the URL with
    # them; signatures over either form are accepted.
    twilio_webhook_overrides: str | None = Field(
        default=None, description="the #rc=…&rp=… overrides on Twilio's webhook URL"
    )
    host: str = Field(default="127.0.0.1", description="the address the web server listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="the web server's port")
    digest_cron: str = Field(default="0 9 * * mon", description="when weekly digests go out")
    timezone: str = Field(
        default="Asia/Bishkek", description="the digests' weeks and the days initiatives open"
    )
    # Our addition: "json" for one JSON object a log line (for log collectors), else text.
    log_format: Literal["text", "json"] = Field(
        default="text", description="text or json: one JSON object a line, for log collectors"
    )
    # Our addition: the web chat at /try (WEB_CHAT=off turns it off).
    web_chat: bool = Field(default=True, description="on or off: the web chat at /try")
    # Our addition: minutes a message waits out a channel's rate limits (Telegram's 429s) before
    # it is given up — logged, counted and recorded for the person, never dropped silently.
    send_give_up_minutes: float = Field(
        default=10.0,
        gt=0,
        le=24 * 60,
        description="minutes a message waits out rate limits before it fails",
    )
    # Our addition (issue 17): where residents' photos are kept; see `media_folder`.
    media_dir: str | None = Field(
        default=None,
        description="folder for residents' photos (unset: media/ beside the SQLite file)",
    )
    # Our addition (issue 31): the database (SQLite gives its -wal and -shm the same) and the
    # photos are created with exactly this mode, whatever the umask; the key file is 0600.
    file_mode: str = Field(
        default="0600",
        description="octal permissions of the database and photo files the bot creates",
    )
    # Our addition: an S3-compatible bucket for the photos instead of the folder.
    media_s3_bucket: str | None = Field(
        default=None,
        description="an S3-compatible bucket for the photos instead (several machines)",
    )
    media_s3_endpoint: str | None = Field(
        default=None, description="the bucket's S3 API address, unless AWS (MinIO, a provider's)"
    )
    media_s3_region: str = Field(default="us-east-1", description="the bucket's region")
    media_s3_access_key_id: str | None = Field(
        default=None, description="the bucket's access key id"
    )
    media_s3_secret_access_key: str | None = Field(
        default=None, description="the bucket's secret access key"
    )
    # Our addition (issue 25): the reverse proxies whose forwarding headers tell the client's
    # address and scheme (bot/web/clients.py), as networks ("10.0.0.5/32", "172.30.80.0/24").
    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="reverse proxies (IPs, CIDRs, comma-separated) whose "
        "X-Forwarded-For/Forwarded is believed",
    )
    # Our addition: /metrics only with this bearer token, or only on a bind of its own
    # (port None: none); without either, only for a loopback peer (bot/web/metrics_routes.py).
    metrics_token: str | None = Field(
        default=None, description="/metrics needs Authorization: Bearer TOKEN (else: loopback only)"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="the address METRICS_PORT listens on"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve /metrics on this port only, not on PORT"
    )
    # Our addition: new web chat visitors and web wishes an hour from one client address.
    web_visitors_per_hour: int = Field(
        default=10, ge=1, description="web chat: new visitors an hour per client address"
    )
    web_wishes_per_hour: int = Field(
        default=30, ge=1, description="web chat: wishes left an hour per client address"
    )
    # Our addition (issue 29): what one SMS segment costs, in som, for the cost a poll's
    # sender sees before sending (a local bulk price; Twilio to Kyrgyz numbers costs more).
    sms_price: float = Field(
        default=2.0, ge=0, description="polls: the price of one SMS segment, in som"
    )
    # Our addition (issue 29): the most SMS messages a poll made in /poll sends (the
    # command's --sms-cap sets its own); none by default.
    poll_sms_cap: int | None = Field(
        default=None, ge=0, description="polls: SMS messages at most a /poll poll sends"
    )
    # Our addition (issue 30): the working days an appeal's answer is due in (Law No. 67 of
    # 2007 on citizens' appeals says 14; shorter periods have been proposed).
    appeal_answer_days: int = Field(
        default=14, ge=1, le=90, description="appeals: working days to answer one"
    )
    # Our addition (issue 29): deputies' polls go out without a staff member's approval.
    poll_deputies_send: bool = Field(
        default=False, description="polls: deputies send their own without staff approval"
    )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, env_file: Path | None = None
    ) -> Settings:
        """The settings from the process's environment, over `env_file` when it exists (the
        environment wins); or, given `env`, from that mapping alone (no environment, no
        file). Each is checked: ConfigError, one line naming the variable, for the first
        that is wrong."""
        try:
            if env is None:
                # pydantic-settings' own arguments, which the fields' signature does not show
                dotenv: dict[str, Any] = {
                    "_env_file": env_file or DOTENV,  # DOTENV read now: the tests move it
                    "_env_file_encoding": "utf-8",
                }
                read: Settings = _Environment(**dotenv)
            else:
                given = {name: value.strip() for name, value in env.items() if value.strip()}
                read = _Given.model_validate(given)
        except ValidationError as error:
            problem = error.errors()[0]
            reason = problem["msg"].removeprefix("Value error, ")
            name = ".".join(str(part) for part in problem["loc"])
            raise ConfigError(f"{name}: {reason}" if name else reason) from None
        # A plain Settings, as constructed directly: the values are now checked and final.
        return Settings.model_construct(read.model_fields_set, **read.model_dump())

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
        path = sqlite_path(self.database_url)
        return None if path is None else path.parent / SECRET_FILE_NAME

    def file_permissions(self) -> int:
        """FILE_MODE as a number."""
        return int(self.file_mode, 8)

    def media_folder(self) -> Path:
        """MEDIA_DIR, or media/ beside the SQLite file (so that a backup of that folder
        holds both), or media/ in the working folder."""
        if self.media_dir:
            return Path(self.media_dir).resolve()
        path = sqlite_path(self.database_url)
        return (path.parent if path is not None else Path.cwd()).resolve() / MEDIA_FOLDER

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

    def public_url(self, path: str) -> str | None:
        return f"{self.public_base_url}{path}" if self.public_base_url else None

    @property
    def telegram_webhook_url(self) -> str | None:
        if not self.public_base_url:
            return None
        return f"{self.public_base_url}/telegram/webhook"


class _Given(Settings):
    """Settings from what an operator wrote (text): read, normalised and checked."""

    # Only the variables' own names (PORT, not port): what docs/settings.md says is read.
    model_config = SettingsConfigDict(
        extra="ignore",
        env_ignore_empty=True,
        enable_decoding=False,
        populate_by_name=False,
        validate_by_name=False,
    )

    @field_validator("file_mode")
    @classmethod
    def _file_mode(cls, value: str) -> str:
        if not re.fullmatch(r"0?[0-7]{3}", value) or int(value, 8) not in FILE_MODES:
            raise ValueError(
                f"{value!r}: octal, readable and writable by the bot's user and executable by "
                "none (0600, 0640, 0660)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        return value

    @field_validator(
        "public_base_url", "telegram_api_base_url", "twilio_api_base_url", "media_s3_endpoint"
    )
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return _url(value)

    @field_validator("public_base_url", "twilio_api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("twilio_webhook_overrides")
    @classmethod
    def _overrides(cls, value: str | None) -> str | None:
        return (value or "").strip().lstrip("#") or None

    @field_validator("secret_key")
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

    @field_validator("secret_key_previous", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        # ValueError naming the part that is not an address or network
        return proxies(value) if isinstance(value, str) else value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        if value is not None and len(value) < METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"{len(value)} characters; use at least {METRICS_TOKEN_LENGTH} "
                "(`civicbot secret new` makes one)"
            )
        return value

    @model_validator(mode="after")
    def _schedule(self) -> Self:
        try:
            check_cron(self.digest_cron, self.timezone)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self


class _Environment(_Given):
    """The same, read from the process's environment over a .env file (pydantic-settings'
    sources, in that order: the environment wins)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings)


def _default(value: object) -> str | None:
    """A default as an operator would write it; None when there is none to show."""
    if value is None or value == ():
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _help_line(name: str) -> str:
    field = Settings.model_fields[name]
    default = _default(field.default)
    return f"{field.description} (default: {default})" if default else str(field.description)


# Every setting as `civicbot serve --help` lists it: its variable, then its line of help.
ENVIRONMENT = tuple((name.upper(), _help_line(name)) for name in Settings.model_fields)
