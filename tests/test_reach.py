"""Who an answer can reach, and what staff hear when it cannot (issue 25): a WhatsApp user
with no phone number (a business-scoped user id) is a resident like any other — a wish, an
answer within the 24-hour window, /forget — but has no SMS to fall back on after it; a
server without TWILIO_WHATSAPP_FROM says so at start, and a staff member whose answer could
not be sent hears why at once."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from bot.channels.sms.registered import WHATSAPP_UNSENT
from storage.models import OutboundMessage, Person, utcnow
from tests.conftest import Civicbot, Say, StartBot, rows
from tests.digests import official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.test_answers import change, sms, sms_to, texts_to, wishes
from tests.twilio import FakeTwilio, twilio_settings

BSUID = "KG.1502576394655843"


async def test_a_whatsapp_user_without_a_phone_number_end_to_end(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    sender = f"whatsapp:{BSUID}"
    assert await sms(runtime, sender, "PLACE naryn_city")
    stored = await sms(runtime, sender, "CHANGE 5 No street lights on Frunze")
    lights = (await wishes(database_url))["No street lights on Frunze"].reference
    assert lights in stored
    [person] = [p for p in await rows(database_url, Person) if p.channel == "whatsapp"]
    assert person.channel_user_id == BSUID

    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9520, "en", role="staff", municipality="naryn_city"
    )
    await staff.send(f"/answer {lights} 2 The lamps are ordered")
    answered = f"{lights}: {say('en', 'status.in_progress')}. The lamps are ordered"
    await sms_to(twilio, sender, answered)  # inside the window: as text, to the same address

    # Two days later no free text, no template, and no phone number for an SMS: staff hear.
    await change(
        database_url, "No street lights on Frunze", created_at=utcnow() - dt.timedelta(days=2)
    )
    sent_before = len(twilio.sent)
    await staff.send(f"/answer {lights} 3 Installed")
    why = say("en", "unreached.no_phone")
    await texts_to(telegram, 9520, say("en", "answer.unreached", reference=lights, why=why))
    assert len(twilio.sent) == sent_before  # nothing went anywhere else

    assert await sms(runtime, sender, "FORGET")
    assert not [p for p in await rows(database_url, Person) if p.channel == "whatsapp"]


@pytest.mark.parametrize(
    "sender",
    [
        "whatsapp:KG.",
        "whatsapp:kg.123",
        "whatsapp:KG.12 3",
        "whatsapp:+0",
        "whatsapp:",
        "whatsapp:KG." + "1" * 128 + "." + "2" * 128,  # the pattern's, but past the column
    ],
)
async def test_a_whatsapp_sender_that_is_neither_a_number_nor_an_id_is_refused(
    start_bot: StartBot, twilio: FakeTwilio, sender: str
) -> None:
    from tests.twilio import inbound_form, post_signed

    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    status, _ = await post_signed(runtime.base_url, "/sms/twilio", inbound_form(sender, "HELP"))
    assert status == 400


async def test_without_a_whatsapp_sender_the_start_says_so_and_staff_hear_at_once(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # a hint of the start: a log line (bot/runtime/logs.py)
    settings = {**twilio_settings(twilio.base_url), "twilio_whatsapp_from": None}
    runtime = await start_bot("webhook", **settings)
    assert WHATSAPP_UNSENT in caplog.messages

    number = "+996555800060"
    await sms(runtime, f"whatsapp:{number}", "PLACE naryn_city")
    await sms(runtime, f"whatsapp:{number}", "CHANGE 5 No street lights on Frunze")
    lights = (await wishes(database_url))["No street lights on Frunze"].reference
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9530, "en", role="staff", municipality="naryn_city"
    )
    await staff.send(f"/answer {lights} 2 The lamps are ordered")
    why = say("en", "unreached.not_configured")
    await texts_to(telegram, 9530, say("en", "answer.unreached", reference=lights, why=why))
    assert twilio.sent == []
    await runtime.stop()
    records = await rows(database_url, OutboundMessage)
    assert [(r.channel, r.status) for r in records] == [("whatsapp", "failed")]
