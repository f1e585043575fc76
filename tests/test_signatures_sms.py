"""Signing by SMS through the signed Twilio webhook: a refusal counted in the metrics and
logged without the number, a redelivered MessageSid, milestones sent to an initiator by SMS.
The signing itself (every keyword, wrong orders, bad input, two phones at once, WhatsApp,
JOIN) runs at the conversation level: tests/test_signatures_sms_conversation.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from typing import Any

import aiohttp
import pytest

from bot.runtime.i18n import Catalogues
from handlers.types import Text
from tests.conftest import Civicbot, StartBot
from tests.initiatives import ADULT_PIN, open_initiative, pin, stored_signatures
from tests.test_sms_webhook import reply_in
from tests.twilio import inbound_form, post_signed, twilio_settings

PATH = "/sms/twilio"
PHONE = "+996555300400"
MINOR_PIN = pin(dt.date(2015, 1, 1))


def sms(language: str, key: str, **values: Any) -> str:
    return Catalogues().text(language, Text(key, values), variant="sms")


async def text(
    runtime: Any, body: str, sender: str = PHONE, form: dict[str, str] | None = None
) -> str:
    form = form or inbound_form(sender, body)
    status, twiml = await post_signed(runtime.base_url, PATH, form)
    assert status == 200, twiml
    return reply_in(twiml)


@pytest.fixture
async def sms_bot(start_bot: StartBot, civicbot: Civicbot) -> Any:
    for arguments in (
        open_initiative("SUU", "--no-address"),
        open_initiative("JOL"),
        open_initiative("LATE", "--opens", "2099-01-01", "--closes", "2099-03-01"),
    ):
        rc, _, err = await civicbot(*arguments)
        assert rc == 0, err
    return await start_bot("webhook", **twilio_settings())


async def test_signing_again_is_refused_before_the_address_is_asked(
    sms_bot: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The same PIN and name to an initiative that needs an address: "already signed" at
    once, not after the address; the refusal is counted by its reason and logged without the
    number, the name or the PIN."""
    caplog.set_level(logging.INFO)
    await text(sms_bot, f"ПОДПИСЬ JOL {ADULT_PIN} Асанов Бакыт")
    await text(sms_bot, "Чаек, Ленина, 12")
    again = await text(sms_bot, f"ПОДПИСЬ JOL {ADULT_PIN} асанов бакыт", sender="+996555300409")
    assert again == sms("ru", "sign.already", title="")
    assert await text(sms_bot, "Чаек, Ленина, 12", sender="+996555300409") == sms(
        "ru", "free_text.ask"
    )  # no draft was waiting for an address: a plain text, asked about
    assert len(await stored_signatures(database_url)) == 1
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sms_bot.base_url}/metrics") as response,
    ):
        exposed = await response.text()
    assert 'civicbot_signatures_refused_total{channel="sms",reason="already"}' in exposed
    assert "was refused: already" in caplog.text
    assert not [n for n in ("300409", ADULT_PIN, "Асанов", "асанов") if n in caplog.text]


async def test_repeated_delivery_signs_once(sms_bot: Any, database_url: str) -> None:
    form = inbound_form(PHONE, f"SIGN SUU {ADULT_PIN} Asanov Bakyt")
    first = await text(sms_bot, "", form=form)
    again = await text(sms_bot, "", form=form)
    assert first == again == sms("en", "sign.done", count=1, threshold=10000)
    assert len(await stored_signatures(database_url)) == 1
    # A new message with the same PIN and name is "already signed".
    assert await text(sms_bot, f"SIGN SUU {ADULT_PIN} asanov BAKYT") == sms(
        "en", "sign.already", title=""
    )


async def test_an_initiator_on_sms_hears_milestones_by_sms(
    start_bot: StartBot, civicbot: Civicbot
) -> None:

    from tests.twilio import FakeTwilio

    local = ["--municipality", "chaek", "--threshold", "2", "--no-address"]
    assert (await civicbot(*open_initiative("KOPUR", *local, kind="local")))[0] == 0
    _, out, _ = await civicbot("invite", "--role", "initiator", "--initiative", "KOPUR")
    code = re.search(r"invite code: (\w+)", out).group(1)  # type: ignore[union-attr]
    twilio = FakeTwilio()
    await twilio.start()
    try:
        runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
        await text(runtime, f"ВСТУПИТЬ {code}", sender="+996555300499")
        for number, name in enumerate(("Асанов Бакыт", "Бекова Айгүл")):
            signer = f"+99655530041{number}"
            await text(runtime, f"ПОДПИСЬ KOPUR {pin(dt.date(1980, 1, 1 + number))} {name}", signer)
        for _ in range(200):
            if len(twilio.sent) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        expected = [
            sms("ru", "initiative.milestone", code="KOPUR", percent=p, count=1 + i, threshold=2)
            for i, p in enumerate((33, 100))  # 1 of 2 is past 33%, not yet 66%
        ]
        assert [(m["To"], m["Body"]) for m in twilio.sent] == [
            ("+996555300499", body) for body in expected
        ]
    finally:
        await twilio.stop()
