"""Rotating SECRET_KEY (docs/operations.md): nothing sealed becomes unreadable, a PIN that
signed under the old key cannot sign again, a message handled under the old key is not
handled twice, and Telegram's old webhook secret is still accepted while the key changes."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.runtime.config import Settings
from tests.conftest import Civicbot, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.initiatives import open_initiative, pin, stored_signatures
from tests.test_signatures_sms import sms, text
from tests.twilio import inbound_form, twilio_settings

OLD_KEY = "old-test-key-of-at-least-32-characters"
NEW_KEY = "new-test-key-of-at-least-32-characters"
FIRST = (pin(dt.date(1970, 3, 3), serial=301), "Асанов Бакыт")
SECOND = (pin(dt.date(1981, 4, 4), serial=402), "Бекова Айгүл")


def sign(initiative: str, signer: tuple[str, str]) -> str:
    return f"КОЛ {initiative} {signer[0]} {signer[1]}"


async def exported_names(civicbot: Civicbot, tmp_path: Path, code: str) -> str:
    out = tmp_path / f"{code}-{uuid.uuid4().hex[:6]}.csv"
    rc, _, err = await civicbot("export", "signatures", "--initiative", code, "--output", str(out))
    assert rc == 0, err
    return out.read_text(encoding="utf-8")


async def test_rotating_keys_in_the_environment(
    start_bot: StartBot,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SECRET_KEY", OLD_KEY)
    assert (await civicbot(*open_initiative("ROT", "--no-address")))[0] == 0
    before = await start_bot("webhook", secret_key=OLD_KEY, **twilio_settings())
    assert await text(before, sign("ROT", FIRST)) == sms(
        "ky", "sign.done", count=1, threshold=10000
    )
    handled = inbound_form("+996555300401", sign("ROT", SECOND))
    await text(before, "", sender="+996555300401", form=handled)
    old_webhook_secret = before.settings.webhook_secret()
    await before.stop()

    # Step 1: the bot restarts with the new key, the old one still known.
    during = await start_bot(
        "webhook", secret_key=NEW_KEY, secret_key_previous=(OLD_KEY,), **twilio_settings()
    )
    # The same PIN under another phone: recognised though its hash was made with the old key.
    assert await text(during, sign("ROT", FIRST), sender="+996555300402") == sms(
        "ky", "sign.already", title=""
    )
    # Twilio redelivers a message handled before the restart: not handled again.
    await text(during, "", sender="+996555300401", form=handled)
    assert [s.status for s in await stored_signatures(database_url)] == ["counted", "counted"]
    # Telegram still sends the secret it was given before setWebhook ran again.
    async with aiohttp.ClientSession() as http:
        for secret, expected in ((old_webhook_secret, 200), ("forged", 401)):
            async with http.post(
                f"{during.base_url}/telegram/webhook",
                json={"update_id": 1},
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            ) as response:
                assert response.status == expected

    # Step 2: the stored signatures move to the new key.
    monkeypatch.setenv("SECRET_KEY", NEW_KEY)
    rc, _, err = await civicbot("secret", "rotate")
    assert rc == 2 and "SECRET_KEY_PREVIOUS" in err  # nothing to rotate from without it
    monkeypatch.setenv("SECRET_KEY_PREVIOUS", OLD_KEY)
    rc, out, err = await civicbot("secret", "rotate")
    assert rc == 0, err
    assert "2 signatures" in out
    await during.stop()

    # Step 3: without the old key, everything still opens and still matches.
    monkeypatch.delenv("SECRET_KEY_PREVIOUS")
    exported = await exported_names(civicbot, tmp_path, "ROT")
    assert FIRST[1] in exported and SECOND[1] in exported and FIRST[0] in exported
    after = await start_bot("webhook", secret_key=NEW_KEY, **twilio_settings())
    assert await text(after, sign("ROT", SECOND), sender="+996555300403") == sms(
        "ky", "sign.already", title=""
    )
    third = (pin(dt.date(1990, 5, 5), serial=503), "Осмонов Канат")
    assert await text(after, sign("ROT", third), sender="+996555300404") == sms(
        "ky", "sign.done", count=3, threshold=10000
    )


async def test_rotating_the_key_file_beside_sqlite(
    start_bot_on: Any, civicbot: Civicbot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without SECRET_KEY the key lives beside the SQLite file; rotating puts a new key first in
    it, and forget-previous leaves only that one, once every signature moved to it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("SECRET_KEY")
    key_file = tmp_path / "civicbot.secret"
    assert (await civicbot(*open_initiative("FILE", "--no-address")))[0] == 0
    bot = await start_bot_on(url, secret_key=None, **twilio_settings())
    original = key_file.read_text().strip()  # made by the first start
    await text(bot, sign("FILE", FIRST))
    first_secret = bot.settings.webhook_secret()
    await bot.stop()  # the file is read at start: the bot is stopped while the key changes

    rc, out, err = await civicbot("secret", "rotate")
    assert rc == 0, err
    keys = key_file.read_text().split()
    assert len(keys) == 2 and keys[1] == original and keys[0] != original
    assert "1 signatures" in out
    assert Settings(database_url=url).secret_keys() == tuple(keys)
    assert FIRST[1] in await exported_names(civicbot, tmp_path, "FILE")

    rc, out, err = await civicbot("secret", "forget-previous")
    assert rc == 0, err
    assert key_file.read_text().split() == keys[:1]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert FIRST[1] in await exported_names(civicbot, tmp_path, "FILE")
    again = await start_bot_on(url, secret_key=None, **twilio_settings())
    assert await text(again, sign("FILE", FIRST), sender="+996555300405") == sms(
        "ky", "sign.already", title=""
    )
    assert again.settings.webhook_secret() != first_secret


async def test_a_new_key_is_printed_not_stored(civicbot: Civicbot, tmp_path: Path) -> None:
    rc, first, _ = await civicbot("secret", "new")
    rc2, second, _ = await civicbot("secret", "new")
    assert rc == rc2 == 0
    assert len(first.strip()) >= 40 and first != second
    assert not (tmp_path / "civicbot.secret").exists()


async def test_the_key_file_is_read_at_start_not_on_every_update(
    start_bot_on: Any, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The webhook's secret comes from the key file as it was at start (a rotation restarts
    the bot): the file is not read again for each update."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
    monkeypatch.delenv("SECRET_KEY", raising=False)
    bot = await start_bot_on(url, secret_key=None)
    secret = bot.settings.webhook_secret()
    (tmp_path / "civicbot.secret").write_text("another-key-written-after-the-start-000000\n")
    resident = resident_of(bot, telegram, "webhook", 7601, "ky")
    update = resident.text_update("/help")
    async with aiohttp.ClientSession() as http:
        for given, expected in ((secret, 200), ("forged", 401)):
            async with http.post(
                f"{bot.base_url}/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": given},
            ) as response:
                assert response.status == expected
