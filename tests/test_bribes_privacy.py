"""The privacy proof for bribe reports (docs/architecture.md §8): after reports sent from known
Telegram and phone identities, nothing in any table, any column, the logs or the database
files joins a report to the person who sent it."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from handlers.bribes import month_name, recent_months
from storage.db import Database
from storage.models import BribeReport
from tests.conftest import StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.test_open_data import given_on
from tests.twilio import inbound_form, post_signed, twilio_settings

TELEGRAM_ID = 918273645
PHONE = "+996555443322"
FIRST_UPDATE_ID = 739_200_000_001  # long and distinctive, so a search cannot match by chance
REPORT_COLUMNS = {
    "id",
    "reference",
    "service",
    "outcome",
    "amount",
    "month",
    "municipality_id",
    "channel",
    "text",
    "created_on",
}


async def dump(db: Database) -> dict[str, list[dict[str, str]]]:
    """Every row of every table, every value as text."""
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        everything = {}
        for table in tables:
            result = await connection.execute(text(f'SELECT * FROM "{table}"'))
            everything[table] = [
                {column: "" if value is None else str(value) for column, value in row.items()}
                for row in result.mappings()
            ]
    return everything


def found(needles: list[str], rows: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [
        (needle, column, value)
        for row in rows
        for column, value in row.items()
        for needle in needles
        if needle in value
    ]


async def test_no_report_can_be_traced_to_its_sender(
    start_bot: StartBot,
    telegram: FakeTelegram,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    telegram.number_updates_from(FIRST_UPDATE_ID)
    runtime = await start_bot("webhook", **twilio_settings())
    today = dt.datetime.now(ZoneInfo("Asia/Bishkek")).date()

    # A Telegram resident reports, step by step.
    resident = resident_of(runtime, telegram, "webhook", TELEGRAM_ID, "ru")
    await resident.send("/start m-naryn_city")
    await resident.press("Русский")
    await resident.send("/bribe")
    await resident.press("Аренда, покупка муниципальных земель, объектов")
    await resident.press("Заплатил(а)")
    await resident.send("7 000")
    await resident.press(month_name(recent_months(today)[0], "ru"))
    await resident.send("Просили за участок у реки")
    replies = await resident.press("Сохранить")
    telegram_reference = re.search(r"\d{7}", replies[0]).group()  # type: ignore[union-attr]
    update_ids = [str(n) for n in range(FIRST_UPDATE_ID, telegram.next_update_id())]

    # An SMS resident reports in one message (and Twilio delivers it twice).
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form(PHONE, "ЖЕР 101"))
    report_sms = inbound_form(PHONE, "ПАРА 1 5000 за справку")
    _, answer = await post_signed(runtime.base_url, "/sms/twilio", report_sms)
    await post_signed(runtime.base_url, "/sms/twilio", report_sms)
    sms_reference = re.search(r"\d{7}", answer).group()  # type: ignore[union-attr]

    db = Database(database_url)
    try:
        rows = await dump(db)
        async with db.session() as session:
            reports = (await session.scalars(select(BribeReport))).all()
    finally:
        await db.close()
    assert sorted(r.reference for r in reports) == sorted([telegram_reference, sms_reference])

    identities = [str(TELEGRAM_ID), PHONE, PHONE[1:], PHONE[4:]]
    message_ids = [*update_ids, report_sms["MessageSid"]]
    report_values = [r.reference for r in reports] + [r.id for r in reports]

    # 1. The report tables hold no identity and no message id.
    for table in ("bribe_reports", "report_quotas", "inbound_deliveries"):
        assert found(identities + message_ids, rows[table]) == [], table
    # 2. No update id or MessageSid is kept anywhere, in any table.
    for table, table_rows in rows.items():
        assert found(message_ids, table_rows) == [], table
    # 3. Nothing outside the reports carries a report's reference or id (not the people, not
    #    their conversations, not the answers kept for redeliveries).
    for table, table_rows in rows.items():
        if table != "bribe_reports":
            assert found(report_values, table_rows) == [], table
    # 3b. No answer of the report's steps is kept for a redelivery either: they echo the
    #     service, the outcome and the amount (onboarding's answers are kept).
    details = ["Аренда, покупка", "7 000", "7000", "Просили за участок"]
    kept = [{"reply": row["reply"]} for row in rows["inbound_deliveries"]]
    assert found(details, kept) == []
    assert any(row["reply"] for row in kept)
    # 4. The report has only its own columns, and the day, never a time.
    assert set(rows["bribe_reports"][0]) == REPORT_COLUMNS
    assert {row["created_on"] for row in rows["bribe_reports"]} == {today.isoformat()}
    # 5. The people exist (they are residents) but their conversations keep no draft.
    assert {row["channel_user_id"] for row in rows["people"]} == {str(TELEGRAM_ID), PHONE}
    assert all(row["step"] == "" and row["data"] in ("{}", "") for row in rows["conversations"])
    # 6. Quota and delivery keys are keyed hashes: not a plain hash of what a sender sent.
    plain = {
        hashlib.sha256(value.encode()).hexdigest()
        for value in identities
        + message_ids
        + [
            f"bribe-quota\x1f{ch}\x1f{who}\x1f{today}"
            for ch, who in (("telegram", str(TELEGRAM_ID)), ("sms", PHONE))
        ]
        + [f"delivery\x1f{ch}\x1f{mid}" for ch in ("telegram", "sms") for mid in message_ids]
    }
    keys = [r["quota_key"] for r in rows["report_quotas"]]
    keys += [r["delivery_key"] for r in rows["inbound_deliveries"]]
    assert len(rows["report_quotas"]) == 2 and not plain & set(keys)
    # 7. The logs name neither the senders nor the reports.
    assert caplog.records
    assert found(identities + message_ids + report_values, [{"log": caplog.text}]) == []
    # 8. On SQLite, not even the file's free pages keep a message id.
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        files = [Path(str(url.database) + suffix) for suffix in ("", "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert [mid for mid in message_ids if mid.encode() in raw] == []


async def test_flooding_by_sms_is_refused_politely_and_stores_nothing_more(
    start_bot: StartBot, database_url: str
) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form(PHONE, "ЖЕР 101"))
    answers = []
    for n in range(7):
        _, answer = await post_signed(
            runtime.base_url, "/sms/twilio", inbound_form(PHONE, f"ПАРА {n} 100")
        )
        answers.append(answer)
    assert all("Рахмат" in a for a in answers[:5])
    assert all("чек" in a for a in answers[5:])  # "…бул чек": the limit
    db = Database(database_url)
    try:
        async with db.session() as session:
            assert len((await session.scalars(select(BribeReport))).all()) == 5
    finally:
        await db.close()
    # Another sender is not held back by the first one's limit.
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form("+996555000999", "ЖЕР 101"))
    _, answer = await post_signed(
        runtime.base_url, "/sms/twilio", inbound_form("+996555000999", "ПАРА 3")
    )
    assert "Рахмат" in answer


async def test_public_bribe_figures_move_only_once_a_month_is_over(
    start_bot: StartBot, database_url: str
) -> None:
    """Whoever watches /stats/KEY.json while residents leave a service office learns nothing:
    reports given this month are not in it, however many; they appear, all at once and each
    month on its own, only once their month is over in TIMEZONE."""
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    before = await public_bribes(runtime)
    today = dt.datetime.now(ZoneInfo("Asia/Bishkek")).date()
    first_of_month = today.replace(day=1)
    last_month_ends = first_of_month - dt.timedelta(days=1)
    assert before["period"]["to"] == last_month_ends.isoformat()
    assert before["by_month"][-1]["month"] == last_month_ends.strftime("%Y-%m")

    for n, phone in enumerate(("+996555443301", "+996555443302", "+996555443303")):
        await post_signed(runtime.base_url, "/sms/twilio", inbound_form(phone, "ЖЕР 101"))
        _, answer = await post_signed(
            runtime.base_url, "/sms/twilio", inbound_form(phone, f"ПАРА 4 {n + 1}000")
        )
        assert "Рахмат" in answer
        assert await public_bribes(runtime) == before  # not after the first, nor the third
    await given_on(database_url, first_of_month)  # the earliest day of the month under way
    assert await public_bribes(runtime) == before
    await given_on(database_url, last_month_ends)  # the month is over
    after = await public_bribes(runtime)
    assert after["by_month"][:-1] == before["by_month"][:-1]
    assert after["by_month"][-1] == {
        "month": last_month_ends.strftime("%Y-%m"),
        "by_service": [{"service_code": 4, "count": 3, "at_least": False}],
        "total": {"count": 3, "at_least": False},
    }


async def public_bribes(runtime: Any) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{runtime.base_url}/stats/naryn_city.json") as response,
    ):
        assert response.status == 200
        return dict((await response.json())["bribe_reports"])
