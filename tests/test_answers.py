"""Closing the loop: staff answer wishes in /inbox (or by SMS: ЖООП), the resident hears
back on their own channel, duplicates hear with them, /mine lists a resident's wishes, and
four weeks after "done" the resident is asked whether it really was."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.channels import notices
from bot.channels.sms.segments import segments
from storage.db import Database
from storage.models import OutboundMessage, Wish, WishAnswer, utcnow
from tests.conftest import Civicbot, ExportWishes, Say, StartBot, resident_of
from tests.digests import LANGUAGE_BUTTONS, invite_code, official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.resident import Resident
from tests.test_sms_webhook import reply_in
from tests.twilio import FakeTwilio, inbound_form, post_signed, twilio_settings

SMS_RESIDENT = "+996555800001"


@pytest.fixture(autouse=True)
def notices_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender's look for notices committed elsewhere comes only every ten minutes here:
    what these tests' notices reach, they reach because their commit wakes it."""
    monkeypatch.setattr(notices, "INTERVAL", 600)


STAFF_PHONE = "+996555800099"


async def sms(runtime: Any, sender: str, body: str, **form: str) -> str:
    """An SMS posted as Twilio posts it (`form`: more fields, media or a place); the answer."""
    form_sent = inbound_form(sender, body, **form)
    status, twiml = await post_signed(runtime.base_url, "/sms/twilio", form_sent)
    assert status == 200
    return reply_in(twiml)


async def resident(
    runtime: Any, telegram: FakeTelegram, user_id: int, language: str, place: str = "naryn_city"
) -> Resident:
    person = resident_of(runtime, telegram, "webhook", user_id, language)
    await person.send(f"/start m-{place}")
    await person.press(LANGUAGE_BUTTONS[language])
    return person


async def wishes(database_url: str) -> dict[str, Wish]:
    """Every wish by its text."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            return {w.text: w for w in (await session.scalars(select(Wish))).all()}
    finally:
        await db.close()


async def change(database_url: str, text: str, **values: Any) -> None:
    """Move a wish's dates as time would have."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(update(Wish).where(Wish.text == text).values(**values))
    finally:
        await db.close()


async def texts_to(telegram: FakeTelegram, user_id: int, expected: str) -> list[str]:
    """Wait for a message we start (a notice) to reach a chat; all its texts."""
    await telegram.wait_for_sends(
        lambda: any(c.params.get("text") == expected for c in telegram.delivered_to(user_id))
    )
    return [str(c.params.get("text")) for c in telegram.delivered_to(user_id)]


async def sms_to(twilio: FakeTwilio, number: str, expected: str) -> None:
    def arrived(sent: list[dict[str, str]]) -> bool:
        return any(m["To"] == number and m["Body"] == expected for m in sent)

    await twilio.wait_for(arrived)


async def test_staff_page_filter_and_answer_and_residents_hear_on_their_channel(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    ky = await resident(runtime, telegram, 9001, "ky")
    for number in range(6):
        await ky.leave_wish("change", category("roads")["ky"], f"Жол чуңкур {number}-көчөдө")
    await ky.leave_wish("great", category("schools")["ky"], "Мектеп сонун болду")
    await sms(runtime, SMS_RESIDENT, "ЖЕР naryn_city")
    await sms(runtime, SMS_RESIDENT, "ИЗМЕНИТЬ 1 Нет воды на улице Ленина уже неделю")
    elsewhere = await resident(runtime, telegram, 9002, "en", place="osh")
    await elsewhere.leave_wish("change", category("roads")["en"], "Potholes in Osh")

    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9010, "en", role="staff", municipality="naryn_city"
    )
    [page] = await staff.send("/inbox")  # the wishes no one has answered yet, ten a page
    header = say(
        "en", "inbox.header", total=8, page=1, pages=1,
        status=say("en", "inbox.status.received"), topic=say("en", "inbox.any_topic"),
    )  # fmt: skip
    assert page.startswith(header)
    assert "Potholes in Osh" not in page  # another municipality's
    stored = await wishes(database_url)
    newest = [stored["Нет воды на улице Ленина уже неделю"], stored["Мектеп сонун болду"]]
    assert staff.buttons()[:2] == [w.reference for w in newest]
    assert staff.buttons()[8:] == [
        say("en", "inbox.filter_status"),
        say("en", "inbox.filter_topic"),
        say("en", "announce.button"),
    ]
    await staff.press(say("en", "inbox.filter_topic"))
    [roads] = await staff.press(say("en", "category.roads"))
    assert roads.startswith(say(
        "en", "inbox.header", total=6, page=1, pages=1,
        status=say("en", "inbox.status.received"), topic=say("en", "category.roads"),
    ))  # fmt: skip

    # Answer the Telegram resident's wish: done, with words.
    wish = stored["Жол чуңкур 5-көчөдө"]
    await staff.press(wish.reference)
    assert say("en", "status.done") in staff.buttons()
    [asked] = await staff.press(say("en", "status.done"))
    assert asked == say("en", "inbox.answer_prompt", status=say("en", "status.done"), limit=500)
    [saved] = await staff.send("Жол оңдолду, рахмат!")
    assert saved.startswith(
        say("en", "answer.saved", reference=wish.reference, status=say("en", "status.done"))
    )
    told = say(
        "ky", "answer.notice", reference=wish.reference,
        status=say("ky", "status.done"), text="Жол оңдолду, рахмат!",
    )  # fmt: skip
    await texts_to(telegram, 9001, told)

    # The SMS resident's: words too long for their SMS are refused, the shortened offered.
    await staff.send("/inbox")
    water = stored["Нет воды на улице Ленина уже неделю"]
    await staff.press(water.reference)
    await staff.press(say("en", "status.in_progress"))
    long = (
        "Бригада водоканала выедет в четверг и заменит трубу на углу Ленина и Токтогула, "
        "воду дадут к вечеру"
    )
    [refused] = await staff.send(long)
    assert refused.startswith(say("en", "answer.too_long", limit=90, length=len(long),
                                  short=long[:89].rsplit(" ", 1)[0] + "…"))  # fmt: skip
    [saved] = await staff.press(say("en", "inbox.short_button"))
    assert saved.startswith(say("en", "answer.saved", reference=water.reference,
                                status=say("en", "status.in_progress")))  # fmt: skip
    short = long[:89].rsplit(" ", 1)[0] + "…"
    expected = f"{water.reference}: {say('ru', 'status.in_progress')}. {short}"
    await sms_to(twilio, SMS_RESIDENT, expected)
    assert segments(expected) <= 2

    after = await wishes(database_url)
    assert after[wish.text].status == "done" and after[wish.text].answered_at is not None
    assert after[water.text].answer == short
    # A deputy reads the same wish, with no buttons to change it.
    deputy = await official_on_telegram(
        runtime, telegram, civicbot, 9011, "en", role="deputy", municipality="naryn_city"
    )
    [read] = await deputy.send(f"/inbox {wish.reference}")
    assert say("en", "inbox.read_only") in read and "Жол оңдолду, рахмат!" in read
    assert deputy.buttons() == [say("en", "inbox.back"), say("en", "inbox.next_button")]


async def test_staff_of_one_place_cannot_act_on_anothers_wish_and_stale_views_are_caught(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    ky = await resident(runtime, telegram, 9101, "ky")
    await ky.leave_wish("change", category("roads")["ky"], "Көпүрө бузулган")
    [wish] = (await wishes(database_url)).values()
    osh = await official_on_telegram(
        runtime, telegram, civicbot, 9110, "en", role="staff", municipality="osh"
    )
    [page] = await osh.send("/inbox")
    assert wish.reference not in page
    # A forged button with the wish's id is refused.
    nonce = osh.newest_keyboard()["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    [refused] = await osh.press_data(nonce.split(":")[0] + f":o:{wish.id}")
    assert refused.startswith(say("en", "inbox.not_yours"))
    assert await osh.send(f"/answer {wish.reference} done Fixed") == [
        say("en", "answer.no_such_wish", reference=wish.reference)
    ]
    plain = await resident(runtime, telegram, 9102, "en")
    assert await plain.send("/inbox") == [say("en", "inbox.officials_only")]

    # Two staff members open the same wish; the first answers, the second's view is stale.
    first = await official_on_telegram(
        runtime, telegram, civicbot, 9111, "en", role="staff", municipality="naryn_city"
    )
    second = await official_on_telegram(
        runtime, telegram, civicbot, 9112, "en", role="staff", municipality="naryn_city"
    )
    for staff in (first, second):
        await staff.send("/inbox")
        await staff.press(wish.reference)
    await first.press(say("en", "status.declined"))
    await first.press(say("en", "inbox.bare_button"))
    [stale] = await second.press(say("en", "status.done"))
    assert stale.startswith(say("en", "inbox.changed"))
    assert say("en", "status.declined") in stale
    told = say("ky", "answer.notice_bare", reference=wish.reference,
               status=say("ky", "status.declined"))  # fmt: skip
    await texts_to(telegram, 9101, told)
    assert (await wishes(database_url))["Көпүрө бузулган"].status == "declined"


async def test_duplicates_point_at_the_first_and_hear_its_answer(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
    export_wishes: ExportWishes,
) -> None:
    runtime = await start_bot("webhook")
    people = [await resident(runtime, telegram, 9201 + n, "ru") for n in range(3)]
    for person, text in zip(people, ("Нет света A", "Нет света B", "Нет света C"), strict=True):
        await person.leave_wish("change", category("street_lighting")["ru"], text)
    refs = {text: w.reference for text, w in (await wishes(database_url)).items()}
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9210, "en", role="staff", municipality="naryn_city"
    )
    a, b, c = refs["Нет света A"], refs["Нет света B"], refs["Нет света C"]
    assert await staff.send(f"/answer {a} duplicate {a}") == [
        say("en", "answer.duplicate_self", reference=a)
    ]
    assert await staff.send(f"/answer {a} duplicate {b}") == [
        say("en", "answer.duplicate_saved", reference=a, of=b)
    ]
    # B repeats C now: A, which repeated B, follows it to C; and C cannot repeat A (a circle).
    await staff.send("/inbox")
    await staff.press(b)
    [asked] = await staff.press(say("en", "inbox.duplicate_button"))
    assert asked == say("en", "inbox.duplicate_prompt")
    [saved] = await staff.send(c.lower())
    assert saved.startswith(say("en", "answer.duplicate_saved", reference=b, of=c))
    assert await staff.send(f"/answer {c} 5 {a}") == [
        say("en", "answer.duplicate_self", reference=c)
    ]
    stored = await wishes(database_url)
    target = stored["Нет света C"].id
    assert [stored[t].duplicate_of for t in ("Нет света A", "Нет света B")] == [target, target]
    # C's answer reaches all three.
    assert await staff.send(f"/answer {c} done Фонари починили") == [
        say("en", "answer.saved", reference=c, status=say("en", "status.done"))
    ]
    for number, person in enumerate(people):
        reference = (a, b, c)[number]
        told = say("ru", "answer.notice", reference=reference,
                   status=say("ru", "status.done"), text="Фонари починили")  # fmt: skip
        await texts_to(telegram, person.user_id, told)
    # The export carries what staff did.
    rows = {row["text"]: row for row in await export_wishes()}
    assert [rows[f"Нет света {x}"]["duplicate_of"] for x in "ABC"] == [c, c, ""]
    assert [rows[f"Нет света {x}"]["status"] for x in "ABC"] == ["duplicate"] * 2 + ["done"]
    assert rows["Нет света C"]["answer"] == "Фонари починили"
    assert all(rows[f"Нет света {x}"]["answered"] for x in "AC")
    assert rows["Нет света C"]["status_changed"] >= rows["Нет света C"]["answered"]


async def test_staff_answer_by_sms_and_residents_list_their_wishes(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await sms(runtime, SMS_RESIDENT, "ЖЕР naryn_city")
    await sms(runtime, SMS_RESIDENT, "ӨЗГӨРТ 3 Таштанды чыгарылбай жатат")
    [wish] = (await wishes(database_url)).values()
    # A number without the staff role.
    assert await sms(runtime, STAFF_PHONE, f"ЖООП {wish.reference} 3 Чыгарылды") == say(
        "ky", "answer.staff_only"
    )
    code = await invite_code(civicbot, "staff", "naryn_city")
    await sms(runtime, STAFF_PHONE, f"КОШУЛ {code}")
    assert await sms(runtime, STAFF_PHONE, "ЖООП") == say("ky", "answer.how")
    assert await sms(runtime, STAFF_PHONE, f"ЖООП {wish.reference} АТКАРЫЛДЫ Чыгарылды") == say(
        "ky", "sms.answer.saved", reference=wish.reference, status=say("ky", "status.done")
    )
    await sms_to(twilio, SMS_RESIDENT, f"{wish.reference}: {say('ky', 'status.done')}. Чыгарылды")

    mine = await sms(runtime, SMS_RESIDENT, "МЕНИКИ")
    assert mine.startswith(say("ky", "sms.mine.header"))
    assert f"{wish.reference} {say('ky', 'status.done')}" in mine and "Чыгарылды" in mine
    tg = await resident(runtime, telegram, 9301, "en")
    assert await tg.send("/mine") == [say("en", "mine.none")]
    await tg.leave_wish("great", category("youth")["en"], "The new sports ground is great")
    [listed] = await tg.send("/mine")
    assert say("en", "status.received") in listed and say("en", "category.youth") in listed


async def test_four_weeks_after_done_the_resident_is_asked_once_and_a_no_reopens(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    tg = await resident(runtime, telegram, 9401, "en")
    await tg.leave_wish("change", category("roads")["en"], "Fix the bridge on Main street")
    await sms(runtime, SMS_RESIDENT, "ЖЕР naryn_city")
    await sms(runtime, SMS_RESIDENT, "ИЗМЕНИТЬ 4 Почините мост на Главной")
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9410, "en", role="staff", municipality="naryn_city"
    )
    stored = await wishes(database_url)
    for text in ("Fix the bridge on Main street", "Почините мост на Главной"):
        await staff.send(f"/answer {stored[text].reference} done Repaired")
    await runtime.stop()
    month_ago = utcnow() - dt.timedelta(days=29)
    for text in stored:
        await change(database_url, text, status_at=month_ago)

    again = await start_bot("webhook", **twilio_settings(twilio.base_url))  # the job runs
    bridge = stored["Fix the bridge on Main street"].reference
    question = say("en", "followup.ask", reference=bridge, text="Fix the bridge on Main street")
    await texts_to(telegram, 9401, question)
    water = stored["Почините мост на Главной"].reference
    await sms_to(twilio, SMS_RESIDENT, say("ru", "sms.followup.ask", reference=water))
    tg = resident_of(again, telegram, "webhook", 9401, "en")
    assert tg.buttons() == [say("en", "followup.yes"), say("en", "followup.no")]
    assert await tg.press(say("en", "followup.no")) == [
        say("en", "followup.reopened", reference=bridge)
    ]
    reopened = say(
        "en", "followup.staff_reopened", reference=bridge,
        topic=say("en", "category.roads"), status=say("en", "status.accepted"),
    )  # fmt: skip
    await texts_to(telegram, 9410, reopened)
    assert await sms(again, SMS_RESIDENT, "да") == say("ru", "followup.thanks_yes")
    after = await wishes(database_url)
    assert (
        after["Fix the bridge on Main street"].status,
        after["Fix the bridge on Main street"].followup,
    ) == ("accepted", "no")
    assert (
        after["Почините мост на Главной"].status,
        after["Почините мост на Главной"].followup,
    ) == ("done", "yes")
    await again.stop()
    once_more = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await asyncio.sleep(0.5)
    await once_more.stop()
    asked = [m for m in twilio.sent if m["Body"] == say("ru", "sms.followup.ask", reference=water)]
    assert len(asked) == 1
    texts = [c.params.get("text") for c in telegram.delivered_to(9401)]
    assert texts.count(question) == 1

    db = Database(database_url)
    try:
        async with db.session() as session:
            answers = (await session.scalars(select(WishAnswer.status))).all()
    finally:
        await db.close()
    assert sorted(answers) == ["done", "done"]


async def test_whatsapp_answers_inside_the_window_as_text_after_it_by_template_or_sms(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
) -> None:
    """WhatsApp takes free text within 24 hours of the resident's message; later only an
    approved template (TWILIO_WHATSAPP_CONTENT_SID), and without one the answer goes by SMS
    to the same number, the record saying why."""
    number = "+996555800050"
    first = await start_bot("webhook", **twilio_settings(twilio.base_url))
    for text in ("CHANGE 5 No street lights on Frunze", "CHANGE 3 Garbage not collected"):
        await sms(first, f"whatsapp:{number}", "PLACE naryn_city")
        await sms(first, f"whatsapp:{number}", text)
    stored = await wishes(database_url)
    lights, garbage = (stored[t].reference for t in (
        "No street lights on Frunze", "Garbage not collected"))  # fmt: skip
    staff = await official_on_telegram(
        first, telegram, civicbot, 9510, "en", role="staff", municipality="naryn_city"
    )
    await staff.send(f"/answer {lights} 2 The lamps are ordered")
    fresh = f"{lights}: {say('en', 'status.in_progress')}. The lamps are ordered"
    await sms_to(twilio, f"whatsapp:{number}", fresh)

    await change(database_url, "Garbage not collected", created_at=utcnow() - dt.timedelta(days=2))
    await staff.send(f"/answer {garbage} 3 Collected on Monday")
    late = f"{garbage}: {say('en', 'status.done')}. Collected on Monday"
    await sms_to(twilio, number, late)  # by SMS: no template configured
    await first.stop()

    second = await start_bot(
        "webhook", **twilio_settings(twilio.base_url), twilio_whatsapp_content_sid="HX" + "0" * 32
    )
    staff = resident_of(second, telegram, "webhook", 9510, "en")
    await staff.send(f"/answer {garbage} 3 Collected again")
    await twilio.wait_for(lambda sent: any(m.get("ContentSid") for m in sent))
    [templated] = [m for m in twilio.sent if m.get("ContentSid")]
    assert templated["To"] == f"whatsapp:{number}" and "Body" not in templated
    assert json.loads(templated["ContentVariables"]) == {
        "1": f"{garbage}: {say('en', 'status.done')}. Collected again"
    }
    await second.stop()  # the notice in hand is finished: its record is written after the send
    db = Database(database_url)
    try:
        async with db.session() as session:
            records = (
                await session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))
            ).all()
    finally:
        await db.close()
    assert [(r.channel, r.note) for r in records] == [
        ("whatsapp", None),
        ("sms", "sms: 24-hour window closed, no template"),
        ("whatsapp", "template: 24-hour window closed"),
    ]


async def test_you_said_we_did_reaches_those_who_wrote_once_a_week(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    say: Say,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    wrote = await resident(runtime, telegram, 9601, "ky")
    await wrote.leave_wish("change", category("drinking_water")["ky"], "Суу түтүгү жарылды")
    await sms(runtime, SMS_RESIDENT, "ЖЕР naryn_city")
    await sms(runtime, SMS_RESIDENT, "ИЗМЕНИТЬ 1 Нет воды на Ленина")
    await sms(runtime, "+996555800002", "ЖЕР naryn_city")
    await sms(runtime, "+996555800002", "ӨЗГӨРТ 1 Суу жок")
    await sms(runtime, "+996555800002", "СТОП")  # opted out: neither counted nor told
    old = await resident(runtime, telegram, 9602, "en")
    await old.leave_wish("change", category("drinking_water")["en"], "Water is dirty")
    await change(database_url, "Water is dirty", created_at=utcnow() - dt.timedelta(weeks=6))
    other = await resident(runtime, telegram, 9603, "en")
    await other.leave_wish("change", category("roads")["en"], "Potholes everywhere")

    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9610, "en", role="staff", municipality="naryn_city"
    )
    await staff.send("/inbox")
    assert await staff.press(say("en", "announce.button")) == [say("en", "announce.topic_prompt")]
    await staff.press(say("en", "category.drinking_water"))
    await staff.press(say("en", "announce.weeks", weeks=4))
    [refused] = await staff.send("x" * 121)
    assert refused.startswith(say("en", "error.too_long", limit=120, length=121))
    text = "Ленин көчөсүндөгү суу түтүгү алмаштырылды"
    [preview] = await staff.send(text)
    topic = say("en", "category.drinking_water")
    four = say("en", "announce.weeks", weeks=4)
    assert preview == say("en", "announce.preview", count=2, topic=topic, weeks=four, text=text)
    assert await staff.press(say("en", "announce.send_button", count=2)) == [
        say("en", "announce.sent", count=2)
    ]
    water_ky = say("ky", "category.drinking_water")
    told = say("ky", "announce.notice", place="Нарын шаары", topic=water_ky, text=text)
    await texts_to(telegram, 9601, told)
    await sms_to(twilio, SMS_RESIDENT, f"город Нарын: {text}")
    # Once a week per topic.
    await staff.send("/inbox")
    await staff.press(say("en", "announce.button"))
    await staff.press(say("en", "category.drinking_water"))
    await staff.press(say("en", "announce.weeks", weeks=12))
    [preview] = await staff.send("Дагы бир жолу")
    twelve = say("en", "announce.weeks", weeks=12)
    again = say("en", "announce.preview", count=3, topic=topic, weeks=twelve, text="Дагы бир жолу")
    assert preview == again  # the six-week-old wish is in the twelve weeks
    assert await staff.press(say("en", "announce.send_button", count=3)) == [
        say("en", "announce.once_a_week", topic=topic)
    ]
    await runtime.stop()
    assert not [m for m in twilio.sent if m["To"] == "+996555800002" and text in m["Body"]]
    assert not [c for c in telegram.delivered_to(9602) if text in str(c.params.get("text"))]
    assert not [c for c in telegram.delivered_to(9603) if text in str(c.params.get("text"))]


async def test_a_resident_who_used_forget_has_no_one_to_tell_and_a_followup_is_answered_once(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    gone = await resident(runtime, telegram, 9701, "en")
    await gone.leave_wish("change", category("roads")["en"], "Repair the road to school")
    await gone.send("/forget")
    assert await gone.press(say("en", "forget.yes")) == [say("en", "forget.done")]
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9710, "en", role="staff", municipality="naryn_city"
    )
    reference = (await wishes(database_url))["Repair the road to school"].reference
    await staff.send("/inbox")
    [shown] = await staff.press(reference)
    assert say("en", "inbox.no_one_to_tell") in shown
    before = len(telegram.delivered_to(9701))
    saved = await staff.send(f"/answer {reference} done Repaired")
    # Staff are not promised what cannot happen.
    done = say("en", "status.done")
    unheard = say("en", "answer.saved_unheard", reference=reference, status=done)
    assert saved == [unheard]
    # The follow-up: pressed twice, the second press is stale and changes nothing.
    asker = await resident(runtime, telegram, 9702, "en")
    await asker.leave_wish("change", category("roads")["en"], "Repair the bridge at the market")
    bridge = (await wishes(database_url))["Repair the bridge at the market"].reference
    await staff.send(f"/answer {bridge} done Repaired")
    await runtime.stop()
    for text in ("Repair the road to school", "Repair the bridge at the market"):
        await change(database_url, text, status_at=utcnow() - dt.timedelta(days=29))
    again = await start_bot("webhook")
    question = say("en", "followup.ask", reference=bridge, text="Repair the bridge at the market")
    await texts_to(telegram, 9702, question)
    asker = resident_of(again, telegram, "webhook", 9702, "en")
    question_message = asker.newest_keyboard()
    assert await asker.press(say("en", "followup.yes")) == [say("en", "followup.thanks_yes")]
    [button] = question_message["reply_markup"]["inline_keyboard"][0][1:]
    [stale] = await asker.press_data(button["callback_data"], question_message)
    assert stale.startswith(say("en", "error.stale_button"))
    assert (await wishes(database_url))["Repair the bridge at the market"].followup == "yes"
    assert len(telegram.delivered_to(9701)) == before  # nothing reached the forgotten chat


async def test_two_staff_answering_one_wish_at_once_both_cannot_land(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    """Both have the answer step open; their words arrive together. The wish's version
    lets one land; the other is not acknowledged (Telegram sends it again) or, if it came
    second, is told the wish changed. One answer kept, one resident notice."""
    runtime = await start_bot("webhook")
    person = await resident(runtime, telegram, 9801, "en")
    await person.leave_wish("change", category("roads")["en"], "Fill the pothole by the mosque")
    reference = (await wishes(database_url))["Fill the pothole by the mosque"].reference
    staff = [
        await official_on_telegram(
            runtime, telegram, civicbot, 9810 + n, "en", role="staff", municipality="naryn_city"
        )
        for n in range(2)
    ]
    for member, label in zip(staff, ("status.done", "status.declined"), strict=True):
        await member.send("/inbox")
        await member.press(reference)
        await member.press(say("en", label))
    updates = [member.text_update(f"Answer {n}") for n, member in enumerate(staff)]
    secret = runtime.settings.webhook_secret()

    async def post(item: dict[str, Any]) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{runtime.base_url}/telegram/webhook",
                json=item,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            ) as response,
        ):
            return response.status

    statuses = await asyncio.gather(*(post(item) for item in updates))
    for item, status in zip(updates, statuses, strict=True):
        if status != 200:  # not kept: Telegram delivers it again
            assert status >= 500
            assert await post(item) == 200
    db = Database(database_url)
    try:
        async with db.session() as session:
            kept = (await session.scalars(select(WishAnswer.text))).all()
    finally:
        await db.close()
    assert len(kept) == 1 and kept[0] in ("Answer 0", "Answer 1")
    loser = staff[1 - int(kept[0][-1])]
    changed = [
        c.params["text"]
        for c in telegram.delivered_to(loser.user_id)
        if str(c.params.get("text", "")).startswith(say("en", "inbox.changed"))
    ]
    assert changed  # told, with the wish as it is now
