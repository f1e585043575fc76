"""Messages we start (answers and digests later): through twilio's async client to a fake of
Twilio's Messages endpoint, with retries, opt-outs, and delivery status callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.channels.sms.channel import SmsChannel
from bot.channels.sms.provider import TwilioProvider
from bot.runtime.app import Runtime
from storage.db import Database
from storage.models import OutboundMessage, Person
from tests.conftest import PUBLIC_BASE_URL, StartBot
from tests.twilio import (
    FROM_NUMBER,
    WHATSAPP_FROM,
    FakeTwilio,
    inbound_form,
    post_signed,
    twilio_settings,
)

FAST_RETRIES = (0.01, 0.01, 0.01)
STATUS_PATH = "/sms/twilio/status"


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def sms_bot(start_bot: StartBot, twilio_api: FakeTwilio) -> AsyncIterator[Runtime]:
    yield await start_bot(
        "webhook", telegram_bot_token=None, **twilio_settings(twilio_api.base_url)
    )


@pytest.fixture
async def outbox(sms_bot: Runtime) -> AsyncIterator[SmsChannel]:
    """The channel as the runtime builds it, with short retry delays."""
    provider = TwilioProvider(sms_bot.settings)
    assert sms_bot.sms is not None
    yield SmsChannel(
        sms_bot.settings,
        sms_bot.db,
        sms_bot.catalogues,
        sms_bot.sms.pseudonyms,
        provider,
        retry_delays=FAST_RETRIES,
    )
    await provider.close()


async def resident(runtime: Runtime, sender: str = "+996555100200") -> Person:
    """Someone who has written to us (and so is in the database)."""
    status, _ = await post_signed(runtime.base_url, "/sms/twilio", inbound_form(sender, "ЖЕР 101"))
    assert status == 200
    return await reload(runtime.db, sender.removeprefix("whatsapp:"))


async def reload(db: Database, number: str) -> Person:
    async with db.session() as session:
        person = await session.scalar(select(Person).where(Person.channel_user_id == number))
    assert person is not None
    return person


async def messages(db: Database) -> list[OutboundMessage]:
    async with db.session() as session:
        return list((await session.scalars(select(OutboundMessage))).all())


async def test_a_message_is_sent_and_recorded_without_its_body(
    sms_bot: Runtime, outbox: SmsChannel, twilio_api: FakeTwilio
) -> None:
    person = await resident(sms_bot)
    record = await outbox.send(person, "Сиздин тилегиңизге жооп келди")
    assert twilio_api.sent == [
        {
            "To": "+996555100200",
            "From": FROM_NUMBER,
            "Body": "Сиздин тилегиңизге жооп келди",
            "StatusCallback": PUBLIC_BASE_URL + STATUS_PATH,
            "Sid": twilio_api.sent[0]["Sid"],
        }
    ]
    stored = await messages(sms_bot.db)
    assert record is not None
    assert [(m.provider_id, m.status, m.person_id, m.channel) for m in stored] == [
        (twilio_api.sent[0]["Sid"], "queued", person.id, "sms")
    ]
    assert "body" not in OutboundMessage.__table__.columns


async def test_whatsapp_goes_from_the_whatsapp_sender(
    sms_bot: Runtime, outbox: SmsChannel, twilio_api: FakeTwilio
) -> None:
    person = await resident(sms_bot, "whatsapp:+996700111222")
    await outbox.send(person, "Salam")
    assert (twilio_api.sent[0]["To"], twilio_api.sent[0]["From"]) == (
        "whatsapp:+996700111222",
        WHATSAPP_FROM,
    )


async def test_429_and_5xx_are_retried_with_back_off(
    sms_bot: Runtime, outbox: SmsChannel, twilio_api: FakeTwilio
) -> None:
    person = await resident(sms_bot)
    twilio_api.failures = [(429, 20429), (503, None)]
    record = await outbox.send(person, "hello")
    assert twilio_api.attempts == 3
    assert record is not None and record.status == "queued"


async def test_persistent_failure_gives_up_and_is_recorded(
    sms_bot: Runtime, outbox: SmsChannel, twilio_api: FakeTwilio
) -> None:
    person = await resident(sms_bot)
    twilio_api.failures = [(500, None)] * 10
    record = await outbox.send(person, "hello")
    assert twilio_api.attempts == 1 + len(FAST_RETRIES)
    assert record is not None and record.status == "failed"

    twilio_api.failures, twilio_api.attempts = [(400, 21211)], 0  # invalid number: no retry
    record = await outbox.send(person, "hello")
    assert twilio_api.attempts == 1
    assert record is not None and (record.status, record.error_code) == ("failed", 21211)


@pytest.mark.parametrize(
    "code", [21211, 21612, 21614, 21408], ids=["invalid", "unreachable", "not-mobile", "region"]
)
async def test_permanent_errors_are_recorded_not_retried(
    sms_bot: Runtime,
    outbox: SmsChannel,
    twilio_api: FakeTwilio,
    code: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An invalid number, one Twilio cannot reach, a landline, a region not enabled: sending
    again would never help. One attempt, the message recorded as failed with Twilio's code,
    a log line with the reason (never the number or the text)."""
    person = await resident(sms_bot)
    twilio_api.failures = [(400, code)] * 3
    record = await outbox.send(person, "Жообуңуз даяр")
    assert twilio_api.attempts == 1
    assert record is not None and (record.status, record.error_code) == ("failed", code)
    assert f"Twilio refused: 400, error {code}" in caplog.text
    assert "+996555100200" not in caplog.text and "Жообуңуз" not in caplog.text
    assert not (await reload(sms_bot.db, "+996555100200")).opted_out


async def test_error_21610_marks_the_person_opted_out(
    sms_bot: Runtime, outbox: SmsChannel, twilio_api: FakeTwilio
) -> None:
    person = await resident(sms_bot)
    twilio_api.failures = [(400, 21610)]
    await outbox.send(person, "hello")
    assert twilio_api.attempts == 1
    person = await reload(sms_bot.db, "+996555100200")
    assert person.opted_out
    assert await outbox.send(person, "hello again") is None
    assert twilio_api.attempts == 1  # nothing more was even tried


async def test_nothing_is_sent_after_stop(
    sms_bot: Runtime, outbox: SmsChannel, twilio_api: FakeTwilio
) -> None:
    await resident(sms_bot)
    await post_signed(sms_bot.base_url, "/sms/twilio", inbound_form("+996555100200", "СТОП"))
    person = await reload(sms_bot.db, "+996555100200")
    assert await outbox.send(person, "digest") is None
    assert twilio_api.attempts == 0


async def test_status_callbacks_only_move_forward(
    sms_bot: Runtime, outbox: SmsChannel, twilio_api: FakeTwilio
) -> None:
    person = await resident(sms_bot)
    record = await outbox.send(person, "hello")
    assert record is not None and record.provider_id

    async def callback(status: str, **extra: str) -> str:
        form = {"MessageSid": str(record.provider_id), "MessageStatus": status, **extra}
        code, _ = await post_signed(sms_bot.base_url, STATUS_PATH, form)
        assert code == 204
        return (await messages(sms_bot.db))[0].status

    assert await callback("sent") == "sent"
    assert await callback("delivered") == "delivered"
    assert await callback("sent") == "delivered"  # a late callback does not move it back
    assert await callback("queued") == "delivered"

    form = {"MessageSid": str(record.provider_id), "MessageStatus": "failed"}
    code, _ = await post_signed(sms_bot.base_url, STATUS_PATH, form, token="forged-token")
    assert code == 403
    assert (await messages(sms_bot.db))[0].status == "delivered"


async def test_status_callback_with_21610_opts_the_person_out(
    sms_bot: Runtime, outbox: SmsChannel
) -> None:
    person = await resident(sms_bot)
    record = await outbox.send(person, "hello")
    assert record is not None
    form = {
        "MessageSid": str(record.provider_id),
        "MessageStatus": "undelivered",
        "ErrorCode": "21610",
    }
    assert (await post_signed(sms_bot.base_url, STATUS_PATH, form))[0] == 204
    assert (await reload(sms_bot.db, "+996555100200")).opted_out
    assert [(m.status, m.error_code) for m in await messages(sms_bot.db)] == [
        ("undelivered", 21610)
    ]
