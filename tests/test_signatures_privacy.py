"""Signers' personal data is encrypted at rest (docs/architecture.md §8): after signatures on
Telegram and by SMS — and with one signer stopped halfway — no name, PIN or address is in
any table, in the raw SQLite files, or in the logs; only the operator's export opens them."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from handlers.pseudonyms import Pseudonyms
from handlers.sealing import SealBroken, Sealer
from storage.db import Database
from tests.conftest import Civicbot, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.initiatives import SIGN, open_initiative, pin, sign_on_telegram
from tests.test_bribes_privacy import dump, found
from tests.test_signatures_sms import text
from tests.twilio import twilio_settings

SIGNERS = [
    # name, PIN, address parts: each distinctive enough that no chance match is possible,
    # and none the name of a place the bot ships (storage/data: those are stored by design)
    ("Жээнбеков Урматбек Кудайбергенович", "21107197500441", ("Кара-Шоро", "Жибек-Жолу", "77")),
    ("Сыдыкова Нургүл Абдыкадыровна", "10309199200552", ("Алтын-Булуң", "Манасчы", "19")),
]
SMS_SIGNER = ("Токтоналиев Эрмек", pin(dt.date(1966, 6, 6), serial=663))
SMS_ADDRESS = "Кызыл-Жылдыз, Бообек, 5"
HALFWAY = ("Абдырахманова Чынара", "10101198000331")


def raw_files(directory: Path) -> bytes:
    return b"".join(f.read_bytes() for f in directory.glob("civicbot.db*"))


def secrets_in_play() -> list[str]:
    needles = [SMS_SIGNER[0], SMS_SIGNER[1], SMS_ADDRESS, *HALFWAY]
    for name, digits, address in SIGNERS:
        needles += [name, digits, *address]
    # Each word of each name on its own too, and the name in the normalised spelling.
    needles += [word for name in (s[0] for s in SIGNERS) for word in name.split()]
    return [n for n in needles if len(n) >= 5]  # a house number alone matches by chance


async def test_no_name_pin_or_address_is_kept_in_the_clear(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # the level `civicbot serve` logs at
    assert (await civicbot(*open_initiative("PRIV")))[0] == 0
    runtime = await start_bot("webhook", **twilio_settings())
    for number, (name, digits, address) in enumerate(SIGNERS):
        signer = resident_of(runtime, telegram, "webhook", 8601 + number, "ky")
        replies = await sign_on_telegram(signer, "ky", "PRIV", name, digits, address)
        assert replies[0].startswith("Рахмат")
    await text(runtime, f"КОЛ PRIV {SMS_SIGNER[1]} {SMS_SIGNER[0]}")
    await text(runtime, SMS_ADDRESS)
    halfway = resident_of(runtime, telegram, "webhook", 8609, "ky")
    await halfway.send("/start i-PRIV")
    await halfway.press(SIGN["ky"])
    await halfway.send(HALFWAY[0])
    await halfway.send(HALFWAY[1])

    everything = await dump(runtime.db)
    assert len(everything["signatures"]) == 3
    leaks = [hit for rows in everything.values() for hit in found(secrets_in_play(), rows)]
    assert leaks == []
    assert found(secrets_in_play(), [{"log": caplog.text}]) == []
    if make_url(database_url).get_backend_name() == "sqlite":
        raw = raw_files(tmp_path)
        assert raw  # the file and its write-ahead log
        assert [n for n in secrets_in_play() if n.encode() in raw] == []

    # The operator's export opens the seals.
    out = tmp_path / "list.csv"
    rc, _, err = await civicbot(
        "export", "signatures", "--initiative", "PRIV", "--output", str(out)
    )
    assert rc == 0, err
    exported = out.read_text(encoding="utf-8")
    for name, digits, address in SIGNERS:
        assert name in exported and digits in exported and ", ".join(address) in exported
    assert SMS_ADDRESS in exported and HALFWAY[0] not in exported


def test_a_seal_opens_only_with_its_key() -> None:
    sealed = Sealer(Pseudonyms("key-one")).seal({"name": "Асанов Бакыт"})
    assert "Асанов" not in sealed
    assert Sealer(Pseudonyms("key-one")).open(sealed) == {"name": "Асанов Бакыт"}
    with pytest.raises(SealBroken):
        Sealer(Pseudonyms("key-two")).open(sealed)
    with pytest.raises(SealBroken):
        Sealer(Pseudonyms("key-one")).open(sealed[:-4] + "AAAA")


async def test_the_export_refuses_another_key(
    civicbot: Civicbot, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A list exported with the wrong SECRET_KEY fails loudly rather than printing garbage."""
    from storage.models import Signature

    await civicbot(*open_initiative("KEYS"))
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            session.add(
                Signature(
                    initiative_id=1,
                    pin_key="k",
                    signer_key="s",
                    status="counted",
                    sealed=Sealer(Pseudonyms("another-key")).seal({"name": "x"}),
                    channel="sms",
                    signed_on=dt.date(2026, 11, 25),
                )
            )
    finally:
        await db.close()
    rc, out, err = await civicbot("export", "signatures", "--initiative", "KEYS")
    assert rc == 2 and "SECRET_KEY" in err and out == ""
