"""SMS through a phone: SMS Gateway for Android as the provider. Its webhooks are signed and
checked; a received SMS is handled as Twilio's and answered through the gateway's API (the
same words), retried while the phone is away; its delivery events move the message's status;
and the table of SMS cases runs through it as through Twilio."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.outbox import Pacer
from bot.channels.sms.android import AndroidProvider
from bot.channels.sms.segments import segments
from bot.runtime.i18n import Catalogues
from handlers.types import Text
from storage.models import BribeReport, OutboundMessage, Signature, Wish
from tests.android_gateway import (
    FakeGateway,
    android_settings,
    event_body,
    post_event,
    received,
    signed,
)
from tests.conftest import Civicbot, StartBot, rows
from tests.initiatives import ADULT_PIN, open_initiative
from tests.sms_table import DATA, WIRE_CASES, body_of, expected_reply, ids, references
from tests.test_sms_webhook import stored

PHONE = "+996555300400"


# The phone's own pace is a message every two seconds; here four a second, so that the tests
# do not wait out the carrier's pace (that a pace is kept is checked at this one).
QUICK_PHONE = 4.0


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeGateway]:
    monkeypatch.setattr(AndroidProvider, "send_rate", QUICK_PHONE)
    server = FakeGateway()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def turns(monkeypatch: pytest.MonkeyPatch) -> list[Pacer]:
    """The pacer of each turn given, in order."""
    given: list[Pacer] = []
    wait = Pacer.wait

    async def recorded(pacer: Pacer) -> None:
        await wait(pacer)
        given.append(pacer)

    monkeypatch.setattr(Pacer, "wait", recorded)
    return given


async def start(start_bot: StartBot, gateway: FakeGateway) -> Any:
    return await start_bot("webhook", telegram_bot_token=None, **android_settings(gateway.base_url))


async def test_a_local_number_takes_a_wish_and_answers_as_twilio_does(
    start_bot: StartBot,
    gateway: FakeGateway,
    turns: list[Pacer],
    catalogues: Catalogues,
    database_url: str,
    civicbot: Civicbot,
) -> None:
    runtime = await start(start_bot, gateway)
    status, _ = await post_event(
        runtime.base_url, received("0555 300 400", "ӨЗГӨРТ Көчөдө жарык жок")
    )
    assert status == 204
    await gateway.wait_for(lambda sent: bool(sent))
    [wish] = await rows(database_url, Wish)
    saved, hint = Text("wish.saved", {"reference": wish.reference}), Text("place.hint")
    expected = " ".join(catalogues.text("ky", text, variant="sms") for text in (saved, hint))
    assert gateway.texts_to(PHONE) == [expected]  # the national number read as +996…
    assert segments(expected) == 1
    assert (wish.text, wish.channel) == ("Көчөдө жарык жок", "sms")

    # A bribe report and a signature through it too; the report keeps no number.
    await post_event(runtime.base_url, received(PHONE, "ЖЕР 101"))
    await post_event(runtime.base_url, received(PHONE, "ПАРА 3 5000"))
    await gateway.wait_for(lambda sent: len(sent) == 3)
    [report] = await rows(database_url, BribeReport)
    assert PHONE not in str(vars(report)) and report.channel == "sms"
    rc, _, err = await civicbot(*open_initiative("SUU", "--no-address"))
    assert rc == 0, err
    await post_event(runtime.base_url, received(PHONE, f"КОЛ SUU {ADULT_PIN} Асанов Бакыт"))
    await gateway.wait_for(lambda sent: len(sent) == 4)
    [signature] = await rows(database_url, Signature)
    assert signature.status == "counted" and ADULT_PIN not in str(vars(signature))
    # Sent at the phone's pace: every send took a turn of one pacer set to the phone's rate
    # (how a pacer spaces its turns: test_outbox_limits).
    assert len(turns) == len(gateway.sent) == 4
    assert {pacer.interval for pacer in turns} == {Pacer(QUICK_PHONE).interval}


async def test_forged_unsigned_replayed_and_foreign_events_are_refused(
    start_bot: StartBot, gateway: FakeGateway, database_url: str
) -> None:
    runtime = await start(start_bot, gateway)
    body = received(PHONE, "ӨЗГӨРТ Жол начар")
    for headers in (
        {},  # unsigned
        signed(body, key="another-key"),  # forged
        signed(body, timestamp=int(time.time()) - 3600),  # an hour old: a replay
        {**signed(body), "X-Signature": "0" * 64},
    ):
        status, _ = await post_event(runtime.base_url, body, headers)
        assert status == 403
    payload = {"messageId": "x", "message": "ӨЗГӨРТ x", "phoneNumber": PHONE}
    other = event_body("sms:received", payload, device="someone-elses-phone")
    assert (await post_event(runtime.base_url, other))[0] == 403
    second_sim = event_body("sms:received", {**payload, "simNumber": 2})
    assert (await post_event(runtime.base_url, second_sim))[0] == 403
    assert (await post_event(runtime.base_url, b"{not json"))[0] == 400
    assert await rows(database_url, Wish) == []
    # The same event delivered twice (the app retries when our answer was lost): once.
    assert (await post_event(runtime.base_url, body))[0] == 204
    assert (await post_event(runtime.base_url, body))[0] == 204
    await runtime.stop()  # the answers under way are sent first
    assert len(await rows(database_url, Wish)) == 1
    assert len(gateway.texts_to(PHONE)) == 1


async def test_the_answer_waits_for_the_phone_and_delivery_events_move_forward(
    start_bot: StartBot, gateway: FakeGateway, database_url: str
) -> None:
    runtime = await start(start_bot, gateway)
    runtime.sms.outbox.network_backoff = (0.05, 0.05, 0.05)  # tried again at once
    gateway.failures = [503, 503]  # the phone is away for two tries
    assert (await post_event(runtime.base_url, received(PHONE, "МЫКТЫ Парк сонун")))[0] == 204
    await gateway.wait_for(lambda sent: bool(sent))
    assert gateway.attempts == 3
    [message] = gateway.sent
    assert runtime.sms is not None
    await runtime.sms.drain()  # the answer's record is written
    for event, expected in (("sms:delivered", "delivered"), ("sms:sent", "delivered")):
        body = event_body(event, {"messageId": message["id"], "phoneNumber": PHONE})
        assert (await post_event(runtime.base_url, body))[0] == 204
        [record] = await rows(database_url, OutboundMessage)
        assert (record.provider, record.status) == ("android", expected)  # never back


# The table's end-to-end cases through the phone (its conversation cases run at the
# conversation level with the gateway's parsing: tests/test_sms_conversation.py).
SIMPLE_CASES = [
    case
    for case in WIRE_CASES
    if not case.get("form")
    and case.get("signature", "ok") == "ok"
    and "status" not in case
    and not case.get("from", "").startswith("whatsapp:")  # WhatsApp stays Twilio's
]


@pytest.mark.parametrize("case", SIMPLE_CASES, ids=ids(SIMPLE_CASES))
async def test_sms_cases_through_the_phone(
    case: dict[str, Any],
    start_bot: StartBot,
    gateway: FakeGateway,
    database_url: str,
    catalogues: Catalogues,
) -> None:
    """The Twilio table, through the gateway: the same answers and the same rows."""
    runtime = await start(start_bot, gateway)
    sender = case.get("from", DATA["defaults"]["from"])
    for body in case.get("before", []):
        assert (await post_event(runtime.base_url, received(sender, body)))[0] == 204
    await runtime.stop()  # every answer so far sent
    before = len(gateway.texts_to(sender))
    runtime = await start(start_bot, gateway)
    event = received(sender, body_of(case))
    assert (await post_event(runtime.base_url, event))[0] == 204
    if case.get("repeat"):
        assert (await post_event(runtime.base_url, event))[0] == 204
    await runtime.stop()
    saved = await stored(database_url)
    answers = gateway.texts_to(sender)[before:]
    if "reply" in case:
        expected = expected_reply(case["reply"], catalogues, references(saved))
        assert answers == ([expected] if expected else [])
    for table in ("wishes", "bribes"):
        if table in case:
            assert [{k: v for k, v in row.items() if k != "month"} for row in saved[table]] == [
                {k: v for k, v in row.items() if k != "month"} for row in case[table]
            ], table


async def test_the_phone_for_sms_beside_twilio_for_whatsapp(
    start_bot: StartBot,
    gateway: FakeGateway,
    twilio: Any,
    telegram: Any,
    civicbot: Civicbot,
    database_url: str,
) -> None:
    """SMS_PROVIDER=android with Twilio set up too: messages the bot starts to SMS residents
    go through the phone, to WhatsApp residents through Twilio."""
    from tests.digests import official_on_telegram
    from tests.test_answers import sms, wishes
    from tests.twilio import twilio_settings

    runtime = await start_bot(
        "webhook", **twilio_settings(twilio.base_url), **android_settings(gateway.base_url)
    )
    await post_event(runtime.base_url, received(PHONE, "ЖЕР naryn_city"))
    await post_event(runtime.base_url, received(PHONE, "ӨЗГӨРТ 5 Көчөдө жарык жок"))
    await sms(runtime, "whatsapp:+996555300401", "PLACE naryn_city")
    await sms(runtime, "whatsapp:+996555300401", "CHANGE 3 Garbage everywhere")
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9950, "en", role="staff", municipality="naryn_city"
    )
    stored = await wishes(database_url)
    for text in ("Көчөдө жарык жок", "Garbage everywhere"):
        await staff.send(f"/answer {stored[text].reference} 2 On it")
    await gateway.wait_for(lambda sent: any("On it" in m["textMessage"]["text"] for m in sent))
    await twilio.wait_for(lambda sent: any("On it" in m.get("Body", "") for m in sent))
    [by_twilio] = [m for m in twilio.sent if "On it" in m.get("Body", "")]
    assert by_twilio["To"] == "whatsapp:+996555300401"
    assert [m["phoneNumbers"] for m in gateway.sent if "On it" in m["textMessage"]["text"]] == [
        [PHONE]
    ]


async def test_an_mms_through_the_phone_is_answered_that_pictures_cannot_come_this_way(
    start_bot: StartBot, gateway: FakeGateway
) -> None:
    """The app's mms:received webhook carries the message's metadata, never its picture."""
    runtime = await start(start_bot, gateway)
    mms = event_body(
        "mms:received",
        {
            "messageId": "mms_1",
            "phoneNumber": PHONE,
            "simNumber": 1,
            "transactionId": "T1",
            "subject": "",
            "size": 125684,
            "contentClass": "IMAGE_BASIC",
            "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000+06:00"),
        },
    )
    assert (await post_event(runtime.base_url, mms))[0] == 204
    assert (await post_event(runtime.base_url, mms))[0] == 204  # sent again: answered once
    await runtime.stop()
    catalogues = Catalogues()
    [answer] = gateway.texts_to(PHONE)
    assert answer.startswith(catalogues.text("ky", Text("photo.no_mms"), "sms"))


async def test_a_phone_that_cannot_be_reached_is_unavailable_not_a_crash() -> None:
    """Nothing listens where the gateway should be: the provider says Unavailable (the outbox
    retries it, then records a failure), not an exception no one catches."""
    from bot.channels.sms.android import AndroidProvider
    from bot.channels.sms.provider import Unavailable
    from bot.runtime.config import Settings

    provider = AndroidProvider(Settings(**android_settings("http://127.0.0.1:9/3rdparty/v1")))
    try:
        with pytest.raises(Unavailable):
            await provider.send("+996555000111", "SIM", "Салам", None)
    finally:
        await provider.close()
