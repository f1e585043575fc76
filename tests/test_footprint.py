"""What the program loads before it needs it (docs/operations.md, "Footprint";
bench/footprint.py measures the memory and the time): `civicbot --version` answers without
importing the app, and the server starts without the libraries only some requests use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CIVICBOT = str(Path(sys.executable).with_name("civicbot"))
# Loaded at the first photo, chart, poster, page or SMS sent, never at start.
LOADED_WHEN_USED = (
    "PIL",  # photos, digest charts, posters
    "segno",  # posters' QR codes
    "jinja2",  # the web pages
    "openpyxl",  # XLSX exports
    "android_sms_gateway",  # the gateway's client: SMS sent
    "holidays",  # the appeals clock's first appeal due within its reminder days
    "cryptography",  # the first key derived: a seal, or the web chat's first visitor
    "phonenumbers",  # the first phone number read (SMS, WhatsApp)
)


def loaded(code: str) -> set[str]:
    """The modules a fresh interpreter holds after `code` (our checkout first on the path)."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def server_in(folder: Path) -> str:
    """The settings of a server on its own database and media in `folder`, on a free port:
    the first arguments of `Settings(...)` in a script for `loaded`."""
    database, media = f"sqlite+aiosqlite:///{folder / 'civicbot.db'}", folder / "media"
    return f'database_url="{database}", media_dir="{media}", secret_key="{"k" * 40}", port=0,'


def test_version_is_answered_without_importing_the_app() -> None:
    """Through the installed `civicbot` script: Python names every module it imports (`-X
    importtime`, as PYTHONPROFILEIMPORTTIME) on stderr."""
    env = os.environ | {"PYTHONPROFILEIMPORTTIME": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([CIVICBOT, "--version"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("civicbot 0."), done.stderr[-500:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "bot.commands.entry" in imported  # the listing is there
    for module in ("bot.commands.cli", "bot.runtime.config", "sqlalchemy", "pydantic"):
        assert module not in imported


def test_the_server_starts_without_the_libraries_of_what_is_not_yet_asked() -> None:
    modules = loaded("import bot.runtime.app")
    assert "bot.runtime.app" in modules and "aiohttp" in modules
    early = [m for m in modules if any(m == n or m.startswith(f"{n}.") for n in LOADED_WHEN_USED)]
    assert early == []


def test_cryptography_waits_for_the_web_chats_first_visitor(tmp_path: Path) -> None:
    """cryptography (6 MB of a worker's memory) is loaded when a key is first derived, not at
    start: the server started with its web chat on and asked for /healthz holds none of it;
    the chat's first visitor, whose cookie is signed with a derived key, loads it."""
    modules = loaded(
        f"""
import asyncio
import sys
import urllib.request
from bot.runtime.app import Runtime
from bot.runtime.config import Settings

async def main():
    runtime = Runtime(Settings({server_in(tmp_path)}))
    await runtime.start()
    try:
        def status(path):
            with urllib.request.urlopen(runtime.base_url + path, timeout=10) as got:
                return got.status
        assert await asyncio.to_thread(status, "/healthz") == 200
        early = [m for m in sys.modules if m.split(".")[0] == "cryptography"]
        assert early == [], early
        assert await asyncio.to_thread(status, "/try") == 200
    finally:
        await runtime.stop()

asyncio.run(main())
"""
    )
    assert "cryptography.hazmat.primitives.kdf.hkdf" in modules


def test_twilio_is_not_loaded_by_the_sms_channel_built_for_twilio() -> None:
    """The `twilio` package is a test dependency only (docs/decisions.md): the server, the SMS
    channel with Twilio as its provider, a signature checked and a TwiML answer written load
    none of it."""
    modules = loaded(
        """
import asyncio
import bot.runtime.app
from bot.channels.sms.channel import SmsChannel
from bot.channels.sms.providers import providers_for
from bot.channels.sms.twilio_api import twiml
from bot.runtime.config import Settings

async def main():
    settings = Settings(
        public_base_url="https://bot.example.kg",
        twilio_account_sid="AC0",
        twilio_auth_token="token",
        twilio_from_number="+15005550006",
    )
    provider, whatsapp = providers_for(settings)
    sms = SmsChannel(settings, None, None, None, provider, whatsapp=whatsapp)
    assert provider.name == "twilio" and whatsapp is None
    assert not sms.signed("/sms/twilio", {"Body": "x"}, "not-it")
    assert twiml("Салам").endswith("<Message>Салам</Message></Response>")
    await sms.close()

asyncio.run(main())
"""
    )
    assert "bot.channels.sms.channel" in modules
    assert [m for m in modules if m == "twilio" or m.startswith("twilio.")] == []


def test_the_server_without_telegram_never_loads_the_telegram_channel(tmp_path: Path) -> None:
    """Telegram off (an SMS-only deployment through a phone, or the web chat alone): the
    server started, its pages and the Telegram webhook asked for, and stopped, without the
    Telegram channel or its client."""
    modules = loaded(
        f"""
import asyncio
import urllib.request
from bot.runtime.app import Runtime
from bot.runtime.config import Settings

async def main():
    settings = Settings(
        {server_in(tmp_path)}
        sms_provider="android",
        android_gateway_url="http://127.0.0.1:9/3rdparty/v1",  # never called while idle
        android_gateway_login="footprint",
        android_gateway_password="footprint-password",
        android_gateway_signing_key="footprint-signing-key",
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        assert runtime.telegram is None and runtime.sms is not None
        def status(path, data=None):
            try:
                with urllib.request.urlopen(runtime.base_url + path, data, timeout=10) as got:
                    return got.status
            except urllib.error.HTTPError as error:
                return error.code
        answers = [
            await asyncio.to_thread(status, path, data)
            for path, data in (("/healthz", None), ("/m/karakol", None),
                               ("/telegram/webhook", b"{{}}"))
        ]
        assert answers == [200, 200, 404], answers
    finally:
        await runtime.stop()

asyncio.run(main())
"""
    )
    assert "bot.runtime.app" in modules and "bot.channels.sms.channel" in modules
    telegrams = ("telegram", "bot.channels.telegram.channel", "bot.channels.telegram.bot_api")
    assert [m for m in modules if m.startswith(telegrams)] == []


def test_the_server_with_telegram_never_loads_python_telegram_bot(tmp_path: Path) -> None:
    """Telegram on: the channel built, its client asking Telegram who the bot is (getMe, here
    refused by a closed port, so it tries again) and the server stopped, without python-
    telegram-bot or the httpx it brings (6 MB of an idle worker: docs/decisions.md, "Our own Bot
    API client")."""
    modules = loaded(
        f"""
import asyncio
import logging
from bot.runtime.app import Runtime
from bot.runtime.config import Settings

class Tries(logging.Handler):
    def __init__(self):
        super().__init__()
        self.said = asyncio.Event()
    def emit(self, record):
        if "Telegram not ready" in record.getMessage():
            self.said.set()

async def main():
    tries = Tries()
    logging.getLogger("bot.channels.telegram.channel").addHandler(tries)
    settings = Settings(
        {server_in(tmp_path)}
        telegram_bot_token="123:footprint",
        telegram_api_base_url="http://127.0.0.1:9/bot",  # nothing listens: getMe fails
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        assert runtime.telegram is not None
        await asyncio.wait_for(tries.said.wait(), 30)
    finally:
        await runtime.stop()

asyncio.run(main())
"""
    )
    assert "bot.channels.telegram.channel" in modules and "aiohttp" in modules
    found = [m for m in modules if m.split(".")[0] in ("telegram", "httpx", "httpcore", "anyio")]
    assert found == []


def test_telegrams_limits_written_out_are_ptbs() -> None:
    """The limits the shared code keeps without importing python-telegram-bot."""
    from telegram.constants import MessageLimit

    from bot.channels.outbox import TEXT_LIMIT
    from bot.digests.delivery import CAPTION_LIMIT

    assert TEXT_LIMIT == MessageLimit.MAX_TEXT_LENGTH
    assert CAPTION_LIMIT == MessageLimit.CAPTION_LENGTH
