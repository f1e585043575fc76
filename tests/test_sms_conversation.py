"""The table of SMS cases (sms_cases.yaml) at the conversation level: every case about the
conversation — the keywords in every language and spelling, the answers in the SMS wording
(within their segments), the wishes, people and bribe reports stored, a redelivery — read by
Twilio's parsing of its form and by the Android gateway's of its event (a national number,
as the phone gives it). One database per module, a fresh sender per case: the rows checked
are the ones written during the case. The webhooks themselves are tests/test_sms_webhook.py
and tests/test_sms_android.py."""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels.sms.segments import segments
from bot.runtime import housekeeping
from handlers import free_text
from handlers.types import Text
from storage.models import BribeReport, Person, Wish
from storage.models import Conversation as ConversationRow
from tests.conversation import SMS_PROVIDERS, Conversation, World, fresh_number
from tests.sms_table import (
    CONVERSATION_CASES,
    TABLES,
    expected_reply,
    expected_rows,
    ids,
    references,
    shown,
)
from tests.sms_table import body_of as body_of_case

WHATSAPP = "whatsapp:"
MODELS = (Wish, Person, BribeReport)

# WhatsApp comes only through Twilio.
CASES = [
    pytest.param(case, provider, id=f"{provider}: {name}")
    for provider in SMS_PROVIDERS
    for case, name in zip(CONVERSATION_CASES, ids(CONVERSATION_CASES), strict=True)
    if provider == "twilio" or not case.get("from", "").startswith(WHATSAPP)
]


def sender_for(case: dict[str, Any], provider: str) -> str:
    """A fresh sender of the case's kind: a WhatsApp number, or a phone number — national
    (0555…) through the Android gateway, as the phone reports it."""
    if case.get("from", "").startswith(WHATSAPP):
        return WHATSAPP + fresh_number("+996700")
    number = fresh_number()
    return "0" + number.removeprefix("+996") if provider == "android" else number


@pytest.mark.parametrize(("case", "provider"), CASES)
async def test_sms_case(case: dict[str, Any], provider: str, world: World) -> None:
    known = [await world.ids(model) for model in MODELS]
    resident = world.conversation("sms", user=sender_for(case, provider), provider=provider)
    for body in case.get("before", []):
        await resident.send(body)

    answers = await resident.send(body_of_case(case))
    again = await resident.redeliver() if case.get("repeat") else None

    wishes, people, bribes = [
        await world.rows_since(model, seen) for model, seen in zip(MODELS, known, strict=True)
    ]
    rows = shown(wishes, people, bribes)
    if "reply" in case:
        expected = expected_reply(case["reply"], world.catalogues, references(rows))
        assert answers == ([expected] if expected else [])
        assert all(segments(text) <= case.get("segments", 2) for text in answers)
    if again is not None:
        # Twilio posts the same MessageSid again and is given the kept answer (a bribe
        # report's without its reference); the gateway's answer went the first time.
        spec = case.get("repeat_reply", case.get("reply", ""))
        kept = expected_reply(spec, world.catalogues, references(rows))
        assert again == ([kept] if kept and provider == "twilio" else [])
    for table in TABLES:
        if table in case:
            assert rows[table] == expected_rows(case, table), table


async def expire_draft(world: World, resident: Conversation) -> None:
    """Move the resident's draft's expiry into the past, as if a day had gone by."""
    state = await resident.state()
    assert state is not None and state.step == free_text.DRAFT
    async with world.db.session() as session, session.begin():
        row = await session.get(ConversationRow, state.person_id)
        assert row is not None
        row.data = {**row.data, "expires": "2000-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("provider", SMS_PROVIDERS)
async def test_a_text_nobody_answers_about_expires(world: World, provider: str) -> None:
    """A text with no keyword waits a day for its 1, 2 or 0: after that a "1" is only a
    number, and the housekeeping sweep wipes a draft left alone."""
    known = await world.ids(Wish)
    resident = world.conversation("sms", user=fresh_number(), provider=provider)
    await resident.send("Көчөдө жарык жок")
    await expire_draft(world, resident)
    help_text = world.catalogues.text("ky", Text("help.text"), "sms")
    assert await resident.send("1") == [help_text]
    assert await world.rows_since(Wish, known) == []

    await resident.send("Ичүүчү суу жок")
    await expire_draft(world, resident)
    assert await housekeeping.sweep(world.db) == 1
    state = await resident.state()
    assert state is not None and (state.step, state.data) == (None, {})
    assert await resident.send("2") == [help_text]
    assert await world.rows_since(Wish, known) == []
