"""Signing by SMS and WhatsApp through the signed Twilio webhook: one message, the address in
a second when asked, every language's keyword, wrong orders and bad input, repeats, and
invites redeemed with JOIN."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.runtime.i18n import Catalogues
from handlers.types import Text
from storage.db import Database
from storage.models import Initiative, Role
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


@pytest.mark.parametrize(
    "body,language",
    [
        (f"КОЛ SUU {ADULT_PIN} Асанов Бакыт", "ky"),
        (f"кол suu {ADULT_PIN} асанов бакыт", "ky"),
        (f"KOL SUU {ADULT_PIN} Asanov Bakyt", "ky"),
        (f"ПОДПИСЬ SUU {ADULT_PIN} Асанов Бакыт", "ru"),
        (f"SIGN SUU {ADULT_PIN} Asanov Bakyt", "en"),
        # Wrong order, PIN in groups, the code typed in Cyrillic look-alikes.
        ("КОЛ Асанов Бакыт 2-1505-1985-00123 SUU", "ky"),
        ("ПОДПИСЬ 2 1505 1985 00123 Асанов Бакыт SUU", "ru"),
    ],
)
async def test_one_message_signs(sms_bot: Any, database_url: str, body: str, language: str) -> None:
    assert await text(sms_bot, body) == sms(language, "sign.done", count=1, threshold=10000)
    [row] = await stored_signatures(database_url)
    assert (row.status, row.channel) == ("counted", "sms")


async def test_the_address_comes_in_a_second_message(sms_bot: Any, database_url: str) -> None:
    # The code typed with a Cyrillic О is still JOL.
    first = await text(sms_bot, f"ПОДПИСЬ JОL {ADULT_PIN} Асанов Бакыт")
    assert first == sms("ru", "sign.address_prompt")
    assert await stored_signatures(database_url) == []
    # An empty address is refused; the draft waits.
    assert await text(sms_bot, "   ") == " ".join(
        (sms("ru", "sign.address_empty"), sms("ru", "sign.address_prompt"))
    )
    done = await text(sms_bot, "Чаек, Ленина, 12")
    assert done == sms("ru", "sign.done", count=1, threshold=10000)
    [row] = await stored_signatures(database_url)
    assert row.status == "counted"


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
        "ru", "help.text"
    )  # no draft was waiting for an address
    assert len(await stored_signatures(database_url)) == 1
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sms_bot.base_url}/metrics") as response,
    ):
        exposed = await response.text()
    assert 'civicbot_signatures_refused_total{channel="sms",reason="already"}' in exposed
    assert "was refused: already" in caplog.text
    assert not [n for n in ("300409", ADULT_PIN, "Асанов", "асанов") if n in caplog.text]


async def test_a_new_keyword_drops_a_half_given_signature(sms_bot: Any, database_url: str) -> None:
    await text(sms_bot, f"SIGN JOL {ADULT_PIN} Asanov Bakyt")
    await text(sms_bot, "CHANGE The road is broken")
    # The next plain message is not taken for an address any more.
    assert await text(sms_bot, "Chaek, Lenin, 12") == sms("en", "help.text")
    assert await stored_signatures(database_url) == []


@pytest.mark.parametrize(
    "body,expected",
    [
        ("КОЛ", ("ky", "sign.usage", {})),
        ("КОЛ SUU", ("ky", "sign.usage", {})),
        (f"КОЛ SUU {ADULT_PIN}", ("ky", "sign.usage", {})),
        (f"ПОДПИСЬ NOPE {ADULT_PIN} Асанов Бакыт", ("ru", "sign.unknown", {"code": "NOPE"})),
        (
            "SIGN SUU 2150519850012 Asanov Bakyt",
            ("en", "pin.length", {"length": 13, "expected": 14}),
        ),
        ("SIGN SUU 31505198500123 Asanov Bakyt", ("en", "pin.first_digit", {})),
        (f"SIGN SUU {ADULT_PIN} Bakyt", ("en", "name.one_word", {})),
        (f"SIGN SUU {MINOR_PIN} Asanov Bakyt", ("en", "pin.under_age", {"age": 18})),
    ],
)
async def test_bad_input_gets_a_short_reason(
    sms_bot: Any, database_url: str, body: str, expected: tuple[str, str, dict[str, Any]]
) -> None:
    language, key, values = expected
    reply = await text(sms_bot, body)
    assert reply == sms(language, key, **values)
    assert await stored_signatures(database_url) == []


async def test_not_open_yet(sms_bot: Any) -> None:
    from handlers.initiatives import day_name

    reply = await text(sms_bot, f"SIGN LATE {ADULT_PIN} Asanov Bakyt")
    assert reply == sms("en", "sign.not_yet", opens=day_name(dt.date(2099, 1, 1), "en"))


async def test_help_sign_and_the_odd_date_warning(sms_bot: Any, database_url: str) -> None:
    assert await text(sms_bot, "ЖАРДАМ КОЛ") == sms("ky", "sign.usage")
    assert await text(sms_bot, "HELP SIGN") == sms("en", "sign.usage")
    reply = await text(sms_bot, "КОЛ SUU 23113198700123 Асанов Бакыт")
    assert reply == " ".join(
        (sms("ky", "pin.odd_date"), sms("ky", "sign.done", count=1, threshold=10000))
    )
    [row] = await stored_signatures(database_url)
    assert row.pin_note == "odd_date"


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


async def test_one_pin_from_two_phones_at_once_is_counted_once(
    sms_bot: Any, database_url: str
) -> None:
    """Two phones send one PIN at the same moment (on PostgreSQL, two transactions both find
    no signature before either commits): one is counted; the other, under another name, is
    kept as disputed, and under the same name is "already signed". The tally is exact."""
    names = ("Asanov Bakyt", "Osmonova Aigul")
    for pair in range(5):
        same_name = pair % 2 == 1
        body = f"SIGN SUU {pin(dt.date(1980 + pair, 1, 1))} " + "{}"
        replies = await asyncio.gather(
            text(sms_bot, body.format(names[0]), sender=f"+99655540{pair}001"),
            text(sms_bot, body.format(names[0 if same_name else 1]), sender=f"+99655540{pair}002"),
        )
        expected = "sign.already" if same_name else "sign.disputed"
        other = sms("en", expected, title="") if same_name else sms("en", expected)
        counted = sms("en", "sign.done", count=pair + 1, threshold=10000)
        assert sorted(replies) == sorted([counted, other])
    rows = await stored_signatures(database_url)
    assert sorted(row.status for row in rows) == ["counted"] * 5 + ["disputed"] * 3
    db = Database(database_url)
    try:
        async with db.session() as session:
            tally = await session.scalar(select(Initiative.signed).where(Initiative.code == "SUU"))
    finally:
        await db.close()
    assert tally == 5


async def test_whatsapp_signs_as_its_own_channel(sms_bot: Any, database_url: str) -> None:
    reply = await text(sms_bot, f"SIGN SUU {ADULT_PIN} Asanov Bakyt", sender="whatsapp:" + PHONE)
    assert reply == sms("en", "sign.done", count=1, threshold=10000)
    [row] = await stored_signatures(database_url)
    assert row.channel == "whatsapp"


async def test_join_redeems_an_invite_once(
    sms_bot: Any, civicbot: Civicbot, database_url: str
) -> None:
    _, out, _ = await civicbot("invite", "--role", "initiator", "--initiative", "SUU")
    code = re.search(r"invite code: (\w+)", out).group(1)  # type: ignore[union-attr]
    assert f"JOIN {code}" in out and f"КОШУЛ {code}" in out
    assert await text(sms_bot, f"КОШУЛ {code.lower()}") == sms("ky", "invite.initiator", title="")
    assert await text(sms_bot, f"JOIN {code}", sender="+996555300401") == sms("ky", "invite.used")
    assert await text(sms_bot, "ВСТУПИТЬ") == sms("ru", "invite.usage")
    assert await text(sms_bot, "ВСТУПИТЬ ZZZZZZZZ") == sms("ru", "invite.unknown")
    db = Database(database_url)
    try:
        async with db.session() as session:
            roles = (await session.scalars(select(Role))).all()
    finally:
        await db.close()
    assert [(r.role, r.initiative_id is not None) for r in roles] == [("initiator", True)]


async def test_an_initiator_on_sms_hears_milestones_by_sms(
    start_bot: StartBot, civicbot: Civicbot
) -> None:
    import asyncio

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
