"""The weekly digest end to end: residents write on Telegram, SMS and WhatsApp, sign and
report; officials join with invites; `civicbot digest run` sends each of them the week's
digest once, in their language, with numbers counted here by hand."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.digests.text import change, day
from handlers.initiatives import add_months
from storage.db import Database
from storage.models import DigestDelivery, Signature, Wish, WishAnswer
from tests.conftest import Civicbot, StartBot, resident_of
from tests.digests import (
    civicbot_process,
    delivery_env,
    last_week,
    midday,
    move_into,
    official_by_sms,
    official_on_telegram,
    sent_to,
)
from tests.fake_telegram import FakeTelegram
from tests.initiatives import ADULT_PIN, open_initiative, pin, today
from tests.places import category, kind, municipality
from tests.twilio import FakeTwilio, inbound_form, post_signed, twilio_settings

ROADS_TEXT = "Жолду оңдоңуз, тел 0555 123 456"  # the number must not reach a digest
BEFORE = {"Суу жок", "Арык тазаланбайт"}  # written the week before
WAITING = ("Суу жок", "Арык тазаланбайт", "Көчө жарыгы жок")  # unanswered, the oldest first
DEPUTY_KY, STAFF_RU, OTHER_PLACE_EN = 8101, 8102, 8103
SMS_DEPUTY = "+996555710001"
TITLES = {"ky": "Таза суу KOPUR", "ru": "Чистая вода KOPUR", "en": "Clean water KOPUR"}


async def sms(runtime: Any, sender: str, body: str) -> None:
    status, _ = await post_signed(runtime.base_url, "/sms/twilio", inbound_form(sender, body))
    assert status == 200


async def a_week_of_messages(runtime: Any, telegram: FakeTelegram, civicbot: Civicbot) -> None:
    """Seven wishes (two of them the week before), four bribe reports, two signatures."""
    ky = resident_of(runtime, telegram, "webhook", 8001, "ky")
    await ky.send("/start m-lenin")
    await ky.press("Кыргызча")
    await ky.leave_wish("change", category("roads")["ky"], ROADS_TEXT)
    await ky.leave_wish("change", category("drinking_water")["ky"], "Суу жок")
    ru = resident_of(runtime, telegram, "webhook", 8002, "ru")
    await ru.send("/start m-lenin")
    await ru.press("Русский")
    await ru.leave_wish("great", category("schools")["ru"], "Новая школа — отлично")
    for phone, body in (
        ("+996555700001", "ӨЗГӨРТ Көчө жарыгы жок"),
        ("+996555700002", "ӨЗГӨРТ Таштанды чыгарылбайт"),
        ("+996555700003", "ӨЗГӨРТ Арык тазаланбайт"),
        ("whatsapp:+996555700004", "GREAT the park is nice"),
    ):
        await sms(runtime, phone, "ЖЕР 103")
        await sms(runtime, phone, body)
    for phone in ("+996555700001", "+996555700002", "whatsapp:+996555700004"):
        await sms(runtime, phone, "ПАРА 3 5000")
    await sms(runtime, "+996555700003", "ВЗЯТКА 1")
    rc, _, err = await civicbot(
        *open_initiative("KOPUR", "--no-address", "--threshold", "100", kind="local"),
        "--municipality",
        "lenin",
    )
    assert rc == 0, err
    await sms(runtime, "+996555700001", f"КОЛ KOPUR {ADULT_PIN} Асанов Бакыт")
    other_pin = pin(dt.date(1990, 1, 2), first=1)
    await sms(runtime, "+996555700002", f"КОЛ KOPUR {other_pin} Осмонова Айгүл")


async def reference_of(database_url: str, text: str = ROADS_TEXT) -> str:
    db = Database(database_url)
    try:
        async with db.session() as session:
            reference = await session.scalar(select(Wish.reference).where(Wish.text == text))
    finally:
        await db.close()
    assert reference is not None
    return reference


async def answer_one(database_url: str) -> None:
    """Staff answered the roads wish on Thursday of the digest's week: done."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            wish = await session.scalar(select(Wish).where(Wish.text == ROADS_TEXT))
            assert wish is not None
            thursday = midday(last_week().monday + dt.timedelta(days=3))
            wish.status, wish.status_at, wish.answered_at = "done", thursday, thursday
            session.add(
                WishAnswer(wish_id=wish.id, status="done", channel="telegram", created_at=thursday)
            )
    finally:
        await db.close()


def expected_lines(
    say: Callable[..., str], language: str, reference: str, refs: dict[str, str]
) -> list[str]:
    """The digest's numbers, counted by hand: this week 3 to change (garbage, roads and street
    lighting 1 each, two of them topics an SMS's words named) and 2 great (schools 1, club
    1); the week before 2 to change (drinking water 1, irrigation 1)."""
    week = last_week()
    ch, gr = kind("change")[language], kind("great")[language]
    return [
        say(
            language,
            "digest.title",
            place=municipality("lenin")[language],
            first=day(week.monday, language),
            last=day(week.sunday, language),
            week=week.number,
        ),
        say(language, "digest.wishes", count=5, before=2),
        f"🔧 {ch} 3 (+1)",
        f"   • {category('garbage')[language]}: 1 (+1)",
        f"   • {category('roads')[language]}: 1 (+1)",
        f"   • {category('street_lighting')[language]}: 1 (+1)",
        f"   • {category('drinking_water')[language]}: 0 ({change(0, 1)})",
        f"   • {category('irrigation_water')[language]}: 0 ({change(0, 1)})",
        f"👍 {gr} 2 (+2)",
        say(language, "digest.quotes"),
        f"🔧 «Жолду оңдоңуз, тел ***» — {category('roads')[language]} · "
        + say(language, "digest.reference", reference=reference),
        say(language, "digest.bribes", count=say(language, "stats.at_least", count=4)),
        "   • "
        + say(
            language,
            "digest.bribe_service",
            service=say(language, "service.3"),
            count="3",
            requests="3",
            honest="0",
        ),
        "      " + say(language, "digest.bribe_requests", paid=0, refused=0, asked=3),
        f"   • {say(language, 'service.1')}: {say(language, 'stats.fewer_than_3')}",
        "   • "
        + say(
            language,
            "digest.initiative",
            title=TITLES[language],
            week=2,
            count=2,
            threshold=100,
            percent=2,
            days=(add_months(today() - dt.timedelta(days=40), 3) - today()).days + 1,
        ),
        say(language, "digest.answered", count=1),
        "   • " + say(language, "digest.answers", counts=f"{say(language, 'status.done')} 1"),
        say(language, "digest.done"),
        f"   ✅ «Жолду оңдоңуз, тел ***» — {category('roads')[language]} · "
        + say(language, "digest.reference", reference=reference),
        say(language, "digest.waiting"),
        # Unanswered wishes to change, the oldest first: the two of the week before
        # (Wednesday to Sunday and a week: 11 days), then this week's first (4 days).
        *(
            "   ⏳ "
            + say(
                language,
                "digest.waiting_line",
                reference=refs[text],
                topic=category(topic)[language],
                days=days,
            )
            for text, topic, days in (
                ("Суу жок", "drinking_water", 11),
                ("Арык тазаланбайт", "irrigation_water", 11),
                ("Көчө жарыгы жок", "street_lighting", 4),
            )
        ),
    ]


async def test_a_week_of_data_reaches_every_official_once_in_their_language(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    say: Callable[..., str],
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await official_on_telegram(runtime, telegram, civicbot, DEPUTY_KY, "ky")
    await official_on_telegram(runtime, telegram, civicbot, STAFF_RU, "ru", role="staff")
    await official_on_telegram(
        runtime, telegram, civicbot, OTHER_PLACE_EN, "en", municipality="ivanovka"
    )
    await official_by_sms(runtime, civicbot, SMS_DEPUTY, "JOIN")
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form(SMS_DEPUTY, "LANG EN"))
    await a_week_of_messages(runtime, telegram, civicbot)
    await move_into(database_url, last_week(), before=BEFORE)
    await answer_one(database_url)
    await runtime.stop()  # the command line sends, as on a server without `serve`
    twilio.sent.clear()

    delivery_env(monkeypatch, telegram, twilio.base_url)
    start = len(telegram.calls)
    rc, out, err = await civicbot("digest", "run")
    assert rc == 0, err
    assert out.startswith(f"{last_week()}: sent 4,")

    for chat, language, role in ((DEPUTY_KY, "ky", "deputy"), (STAFF_RU, "ru", "staff")):
        sent = sent_to(telegram, chat, start)
        kinds = [what for what, _ in sent]
        assert kinds == (["text", "photo", "document"] if role == "staff" else ["text", "photo"])
        body = "\n".join(text for what, text in sent if what == "text")
        lines = body.splitlines()
        refs = {text: await reference_of(database_url, text) for text in WAITING}
        for expected in expected_lines(say, language, await reference_of(database_url), refs):
            for line in expected.splitlines():
                assert line in lines, f"{language}: {line!r} missing from\n{body}"
        assert "555 123 456" not in body and "+996" not in body
        quotes = [line for line in lines if line.startswith(("🔧 «", "👍 «"))]
        assert len(quotes) == 5  # one from each category and kind
        photo = telegram.delivered_to(chat, start)[1].params["photo"]["content"]
        assert photo.startswith(b"\x89PNG")
        assert sent[1][1] == say(
            language,
            "digest.chart_caption",
            place=municipality("lenin")[language],
            first=day(last_week().monday, language),
            last=day(last_week().sunday, language),
        )

    table = telegram.delivered_to(STAFF_RU, start)[2].params["document"]
    assert table["filename"] == f"wishes-lenin-{last_week()}.csv"
    rows = list(csv.DictReader(io.StringIO(table["content"].decode("utf-8-sig"))))
    assert len(rows) == 5 and {row["municipality_key"] for row in rows} == {"lenin"}
    # Headers and values in the staff member's language (Russian), the keys beside them.
    roads = next(row for row in rows if row["category_key"] == "roads")
    assert (roads["Тема"], roads["Вид"], roads["Статус"]) == (
        "Дороги",
        "Я хочу изменить!",
        "выполнено",
    )
    assert (roads["kind_key"], roads["status_key"], roads["Канал"]) == (
        "change",
        "done",
        "Telegram",
    )
    assert "Жолду оңдоңуз" in roads["Текст"] and roads["Номер обращения"] == await reference_of(
        database_url
    )

    quiet = sent_to(telegram, OTHER_PLACE_EN, start)
    assert [what for what, _ in quiet] == ["text"]
    assert "https://t.me/civic_test_bot?start=m-ivanovka" in quiet[0][1]
    assert (
        say("en", "digest.quiet", link="https://t.me/civic_test_bot?start=m-ivanovka")
        in quiet[0][1]
    )

    [summary] = [m for m in twilio.sent if m["To"] == SMS_DEPUTY]
    assert summary["Body"] == say(
        "en",
        "digest.sms",
        place=municipality("lenin")["en"],
        week=last_week().number,
        count=5,
        change="+3",
        top=", Garbage and cleanliness 1, Roads 1, Street lighting 1",
        bribes=say("en", "stats.at_least", count=4),
        answered=1,
    )

    # Running it again sends nothing twice.
    before = len(telegram.delivered()), len(twilio.sent)
    rc, out, _ = await civicbot("digest", "run")
    assert rc == 0 and out.startswith(f"{last_week()}: sent 4,")
    assert (len(telegram.delivered()), len(twilio.sent)) == before


async def test_two_processes_at_once_send_each_digest_once(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    officials = list(range(8201, 8213))
    for user_id in officials:
        await official_on_telegram(runtime, telegram, civicbot, user_id, "ru")
    await runtime.stop()

    telegram.send_delay = 0.1  # so that the two fan-outs overlap
    start = len(telegram.calls)
    processes = [await civicbot_process(database_url, telegram, "digest", "run") for _ in "ab"]
    for process in processes:
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
    for user_id in officials:
        assert [what for what, _ in sent_to(telegram, user_id, start)] == ["text"]  # a quiet week
    db = Database(database_url)
    try:
        async with db.session() as session:
            rows = (await session.scalars(select(DigestDelivery))).all()
    finally:
        await db.close()
    assert sorted(r.status for r in rows) == ["sent"] * len(officials)
    assert all(r.attempts == 1 for r in rows)


async def test_a_past_weeks_digest_shows_the_total_at_the_end_of_that_week(
    start_bot: StartBot, civicbot: Civicbot, database_url: str
) -> None:
    """Two signatures last week, one this week: last week's digest says 2, not today's 3;
    a signature withdrawn since still counted that week."""
    rc, _, err = await civicbot(
        *open_initiative("MOST", "--no-address", "--threshold", "100", kind="local"),
        "--municipality",
        "lenin",
    )
    assert rc == 0, err
    runtime = await start_bot("webhook", **twilio_settings())
    for number in range(3):
        signer = pin(dt.date(1970 + number, 1, 2), serial=700 + number)
        await sms(runtime, f"+99655570090{number}", f"КОЛ MOST {signer} Асанов Бакыт{'а' * number}")
    wednesday = last_week().monday + dt.timedelta(days=2)
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            ids = list((await session.scalars(select(Signature.id).order_by(Signature.id))).all())
            await session.execute(
                update(Signature).where(Signature.id.in_(ids[:2])).values(signed_on=wednesday)
            )
            withdrawn_today = update(Signature).where(Signature.id == ids[0])
            await session.execute(withdrawn_today.values(status="withdrawn", withdrawn_on=today()))
    finally:
        await db.close()
    rc, out, err = await civicbot(
        "digest", "preview", "--municipality", "lenin", "--lang", "en", "--period", str(last_week())
    )
    assert rc == 0, err
    assert "«Clean water MOST»: +2 this week; 2 of 100 (2%)" in out


def test_quotes_prefer_the_readers_language_and_skip_one_word_and_hidden_texts() -> None:
    from handlers.quotes import choose_quotes, quotable

    def wish(number: int, text: str, category: str = "drinking_water") -> Wish:
        created = dt.datetime(2026, 11, 20, 9, number, tzinfo=dt.UTC)
        return Wish(
            id=number, kind="change", category=category, text=text,
            reference=f"100000{number}", created_at=created,
        )  # fmt: skip

    hidden = wish(7, "Бул тексттеги сөздөр орой", "roads")
    hidden.hidden = True  # staff hid it: never quoted
    pool = quotable(
        [
            hidden,
            wish(1, "Суу жок үч күндөн бери"),
            wish(2, "No water for three days"),
            wish(3, "Нет воды три дня"),
            wish(4, "Рахмат!"),  # one word: nothing to quote
            wish(5, "   тел 0555 123 456   "),  # nothing left once the number is out
            wish(6, "Жол начар, чуңкур көп", "roads"),
        ]
    )
    assert [q.reference for q in pool] == ["1000006", "1000003", "1000002", "1000001"]
    first = {language: choose_quotes(pool, language)[0].text for language in ("ky", "ru", "en")}
    assert first == {
        "ky": "Суу жок үч күндөн бери",
        "ru": "Нет воды три дня",
        "en": "No water for three days",
    }
    # Each topic still gets its turn, whatever the reader's language.
    assert {q.category for q in choose_quotes(pool, "en")} == {"drinking_water", "roads"}


def test_the_bribe_section_of_a_hand_counted_week() -> None:
    """Every outcome, counted by hand. Requests (paid, refused, no more said) apart from
    honest service; every figure of 3 or more shown; 1 and 2 hidden, and a total over a
    hidden figure shown only as a lower bound, so that no subtraction finds it."""
    from bot.digests.content import Digest
    from bot.digests.text import render
    from bot.runtime.i18n import Catalogues
    from storage.models import Municipality

    place = Municipality(key="lenin", code=103, name_ky="Ленин", name_ru="Ленин", name_en="Lenin")
    bribes = {
        (1, "paid"): 4, (1, "refused"): 2, (1, "not_asked"): 1,  # 7: asked 6, honest 1
        (3, "paid"): 3, (3, "not_asked"): 3,  # 6: asked 3, honest 3
        (5, "asked"): 3, (5, "refused"): 3, (5, "not_asked"): 5,  # 11: asked 6, honest 5
        (4, "paid"): 1,  # 1
    }  # fmt: skip
    digest = Digest(place, last_week(), Counter(), Counter(), [], bribes, [])
    text = render(digest, Catalogues(), "en")
    assert "🚫 Bribe reports (anonymous): at least 25" in text  # 25 in fact: 1 and 1 hidden
    assert (
        "Winning contracts for municipal services: 11 — a bribe asked for: 6; honest service: 5"
        in text
    )
    assert "of which: paid 0 · refused 3 · no more said 3" in text
    assert (
        "Getting certificates: at least 7 — a bribe asked for: 6; honest service: fewer than 3"
        in text
    )
    assert "paid 4 · refused 2" not in text  # the 2 would show
    assert "Renting or buying municipal land or property: 6 — a bribe asked for: 3; " in text
    assert "of which: paid 3 · refused 0 · no more said 0" in text
    assert "Getting a child into kindergarten or school: fewer than 3" in text
    assert "several" not in text
