"""Settings read from the environment (ARCHITECTURE §3)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./civicbot.db"
DEFAULT_TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_TWILIO_API_BASE_URL = "https://api.twilio.com"
SECRET_FILE_NAME = "civicbot.secret"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


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
    twilio_api_base_url: str = DEFAULT_TWILIO_API_BASE_URL
    # Our addition: the connection overrides put after '#' on the webhook URL in Twilio's
    # console ("rc=5&rp=all", so that Twilio retries a 5xx). Twilio may sign the URL with
    # them; signatures over either form are accepted.
    twilio_webhook_overrides: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str | None = None
    digest_cron: str = "0 9 * * mon"
    timezone: str = "Asia/Bishkek"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        port_text = get("PORT") or "8080"
        if not port_text.isdigit():
            raise ConfigError(f"PORT must be a number, not {port_text!r}")
        public = get("PUBLIC_BASE_URL")
        return cls(
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
            telegram_api_base_url=get("TELEGRAM_API_BASE_URL") or DEFAULT_TELEGRAM_API_BASE_URL,
            telegram_webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
            public_base_url=public.rstrip("/") if public else None,
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_from_number=get("TWILIO_FROM_NUMBER"),
            twilio_whatsapp_from=get("TWILIO_WHATSAPP_FROM"),
            twilio_webhook_overrides=(get("TWILIO_WEBHOOK_OVERRIDES") or "").lstrip("#") or None,
            twilio_api_base_url=(get("TWILIO_API_BASE_URL") or DEFAULT_TWILIO_API_BASE_URL).rstrip(
                "/"
            ),
            host=get("HOST") or "127.0.0.1",
            port=int(port_text),
            secret_key=get("SECRET_KEY"),
            digest_cron=get("DIGEST_CRON") or "0 9 * * mon",
            timezone=get("TIMEZONE") or "Asia/Bishkek",
        )

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or on SQLite one generated once and kept beside the database file."""
        if self.secret_key:
            return self.secret_key
        if not self.is_sqlite:
            raise ConfigError("SECRET_KEY must be set when DATABASE_URL is not SQLite")
        database = make_url(self.database_url).database
        if not database or database == ":memory:":
            return secrets.token_urlsafe(32)  # nothing persists, so neither need the key
        path = Path(database).resolve().parent / SECRET_FILE_NAME
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def webhook_secret(self) -> str:
        """The secret Telegram must send; derived from SECRET_KEY when not set explicitly."""
        if self.telegram_webhook_secret:
            return self.telegram_webhook_secret
        key = self.resolved_secret_key().encode()
        return hmac.new(key, b"telegram-webhook", hashlib.sha256).hexdigest()

    @property
    def sms_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    def public_url(self, path: str) -> str | None:
        return f"{self.public_base_url}{path}" if self.public_base_url else None

    @property
    def telegram_webhook_url(self) -> str | None:
        if not self.public_base_url:
            return None
        return f"{self.public_base_url}/telegram/webhook"
