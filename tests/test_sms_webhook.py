"""Twilio's inbound webhook on the wire, case by case from sms_cases.yaml: the cases about
the request (signatures, status codes, malformed forms, pictures' URLs) and a few end to end
(the TwiML, an empty one, WhatsApp, a redelivered MessageSid). The table's conversation
cases run at the conversation level: tests/test_sms_conversation.py."""

from __future__ import annotations

import html
import re
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.sms.segments import segments
from bot.runtime.i18n import Catalogues
from storage.db import Database
from storage.models import BribeReport, Person, Wish
from tests.conftest import PUBLIC_BASE_URL, ExportWishes, StartBot
from tests.sms_table import (
    DATA,
    TABLES,
    WIRE_CASES,
    body_of,
    expected_reply,
    expected_rows,
    ids,
    references,
    shown,
)
from tests.twilio import inbound_form, post_signed, signature, twilio_settings

PATH = "/sms/twilio"


def form_of(case: dict[str, Any], sender: str) -> dict[str, str]:
    form = inbound_form(sender, body_of(case))
    for name, value in (case.get("form") or {}).items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = str(value)
    return form


def reply_in(twiml: str) -> str:
    """The text of the TwiML answer; "" for an empty <Response/>."""
    match = re.search(r"<Message>(.*)</Message>", twiml, re.S)
    if match is None:
        assert re.fullmatch(r'<\?xml version="1.0" encoding="UTF-8"\?><Response ?/>', twiml), twiml
        return ""
    return html.unescape(match.group(1))


async def stored(database_url: str) -> dict[str, Any]:
    """Every wish, person and bribe report in the database, as the table writes them."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            wishes = (await session.scalars(select(Wish).order_by(Wish.id))).all()
            people = (await session.scalars(select(Person).order_by(Person.id))).all()
            bribes = (await session.scalars(select(BribeReport))).all()
    finally:
        await db.close()
    return shown(list(wishes), list(people), list(bribes))


@pytest.mark.parametrize("case", WIRE_CASES, ids=ids(WIRE_CASES))
async def test_twilio_inbound(
    case: dict[str, Any], start_bot: StartBot, database_url: str, catalogues: Catalogues
) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    sender = case.get("from", DATA["defaults"]["from"])
    for body in case.get("before", []):
        status, _ = await post_signed(runtime.base_url, PATH, inbound_form(sender, body))
        assert status == 200

    form = form_of(case, sender)
    status, answer = await post_case(runtime.base_url, form, case.get("signature", "ok"))
    assert status == case.get("status", 200), answer
    again = await post_signed(runtime.base_url, PATH, form) if case.get("repeat") else None

    rows = await stored(database_url)
    if "reply" in case:
        text = reply_in(answer)
        spec = case.get("twilio_reply", case["reply"])  # Twilio's own opt-out words
        assert text == expected_reply(spec, catalogues, references(rows))
        assert segments(text) <= case.get("segments", 2)
    if again is not None:
        spec = case.get("repeat_reply", case.get("reply", ""))
        assert again[0] == status
        assert reply_in(again[1]) == expected_reply(spec, catalogues, references(rows))
    for table in TABLES:
        if table in case:
            assert rows[table] == expected_rows(case, table), table


async def post_case(base_url: str, form: dict[str, str], how: str) -> tuple[int, str]:
    """Post as Twilio would, or with the signature missing, forged or made for something else."""
    if how == "ok":
        return await post_signed(base_url, PATH, form)
    if how == "missing":
        return await post_signed(base_url, PATH, form, signed=False)
    if how == "wrong_url":
        return await post_signed(base_url, PATH, form, sign_url=PUBLIC_BASE_URL + "/sms/other")
    if how == "wrong_token":
        return await post_signed(base_url, PATH, form, token="another-account-token")
    assert how == "forged"  # a valid signature, but for a different body
    forged = signature(PUBLIC_BASE_URL + PATH, {**form, "Body": "something else"})
    async with (
        aiohttp.ClientSession() as http,
        http.post(base_url + PATH, data=form, headers={"X-Twilio-Signature": forged}) as r,
    ):
        return r.status, await r.text()


async def test_a_wish_waiting_for_its_place_exports_with_empty_place_cells(
    start_bot: StartBot, export_wishes: ExportWishes
) -> None:
    """A new phone's wish before it named a place: kept, and the export has a row for it
    with the municipality and region left empty (it used to crash the export)."""
    runtime = await start_bot("webhook", **twilio_settings())
    form = inbound_form("+996555700800", "ӨЗГӨРТ Көчөдө жарык жок")
    status, _ = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 200
    [row] = await export_wishes()
    assert (row["municipality"], row["region"], row["text"]) == ("", "", "Көчөдө жарык жок")

    # Once the sender names the place, the waiting wish goes there.
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form("+996555700800", "ЖЕР 101"))
    [row] = await export_wishes()
    assert (row["municipality"], row["text"]) == ("naryn_city", "Көчөдө жарык жок")
