"""Every staff answer on one audited path (handlers/answering.py): the Telegram inbox, SMS
ЖООП and the console are all in `civicbot audit`, each under its channel, with the staff
member and the wish's reference — never the resident."""

from __future__ import annotations

from storage.models import AuditEntry, Person
from tests.conftest import Civicbot, Say, StartBot, rows
from tests.digests import invite_code, official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.test_answers import SMS_RESIDENT, STAFF_PHONE, resident, sms, wishes
from tests.twilio import FakeTwilio, twilio_settings


async def test_answers_from_the_chat_inbox_and_sms_are_audited_with_their_channel(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    ky = await resident(runtime, telegram, 9401, "ky")
    await ky.leave_wish("change", category("roads")["ky"], "Жол чуңкур Ленин көчөдө")
    await sms(runtime, SMS_RESIDENT, "ЖЕР naryn_city")
    await sms(runtime, SMS_RESIDENT, "ӨЗГӨРТ 3 Таштанды чыгарылбай жатат")
    stored = await wishes(database_url)
    road, rubbish = stored["Жол чуңкур Ленин көчөдө"], stored["Таштанды чыгарылбай жатат"]

    # On Telegram, by the inbox's buttons.
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9410, "en", role="staff", municipality="naryn_city"
    )
    await staff.send("/inbox")
    await staff.press(road.reference)
    await staff.press(say("en", "status.done"))
    [saved] = await staff.send("Оңдолду")
    assert saved.startswith(say("en", "answer.saved", reference=road.reference,
                                status=say("en", "status.done")))  # fmt: skip
    # By SMS: ЖООП, then a duplicate by SMS too.
    await sms(runtime, STAFF_PHONE, f"КОШУЛ {await invite_code(civicbot, 'staff', 'naryn_city')}")
    said = await sms(runtime, STAFF_PHONE, f"ЖООП {rubbish.reference} 2 Эртең")
    assert said == say("ky", "sms.answer.saved", reference=rubbish.reference,
                       status=say("ky", "status.in_progress"))  # fmt: skip
    await sms(runtime, STAFF_PHONE, f"ЖООП {rubbish.reference} 5 {road.reference}")

    entries = [(e.via, e.action, e.subject, e.detail) for e in await rows(database_url, AuditEntry)]
    assert entries == [
        ("telegram", "answer", road.reference, {"status": "done"}),
        ("sms", "answer", rubbish.reference, {"status": "in_progress"}),
        ("sms", "duplicate", rubbish.reference, {"of": road.reference}),
    ]
    people = {p.id: p for p in await rows(database_url, Person)}
    audited = {e.person_id for e in await rows(database_url, AuditEntry)}
    residents = {road.person_id, rubbish.person_id}
    assert len(audited) == 2 and not audited & residents and None not in audited
    assert all(people[p].id not in residents for p in audited)

    rc, out, _ = await civicbot("audit", "--municipality", "naryn_city")
    assert rc == 0
    lines = out.splitlines()
    assert any(f"answer {road.reference}" in line and "\ttelegram" in line for line in lines)
    assert any(f"answer {rubbish.reference}" in line and "\tsms" in line for line in lines)
    assert SMS_RESIDENT not in out and "Таштанды" not in out and "Эртең" not in out
