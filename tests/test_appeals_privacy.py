"""An appellant's name and address (handlers/appeals.py) on the real wire: after appeals on
Telegram and by SMS, made overdue and run through the clock, the name and address are in no
table in the clear, not in the raw SQLite files, the logs, the wish export, Open311, the
public page, the deputies' inbox and digest, or `civicbot appeals overdue` — while staff
read them on the appeal's card (docs/architecture.md §8, issue 30)."""

from __future__ import annotations

import logging
from datetime import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from handlers import appeal_clock
from handlers.working_days import working_days_before, working_days_between
from storage.db import Database
from storage.models import Appeal
from tests.conftest import Civicbot, ExportWishes, Say, StartBot
from tests.digests import official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.test_answers import resident
from tests.test_bribes_privacy import dump, found
from tests.test_open_data import get
from tests.test_signatures_privacy import raw_files
from tests.test_signatures_sms import text
from tests.twilio import twilio_settings
from tests.web_visitor import WebVisitor

# Distinctive enough that no chance match is possible, and no place the bot ships.
TELEGRAM_APPELLANT = ("Жээналиева Айпери Маратовна", "Ак-Жол кичирайону, Жибек-Жолу 77")
SMS_APPELLANT = ("Токторбаев Нурсултан Эркинович", "Кара-Суу, Чолпонбаев 41")
WEB_APPELLANT = ("Bakirova Zhyldyz", "Kok-Jar, Baitik Baatyr 19")
PHONE = "+996555820001"


def needles() -> list[str]:
    every = (TELEGRAM_APPELLANT, SMS_APPELLANT, WEB_APPELLANT)
    words = [w for name, _ in every for w in name.split()]
    return [*(part for both in every for part in both), *(w for w in words if len(w) >= 6)]


async def appeals_of(database_url: str) -> list[Appeal]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list(await session.scalars(select(Appeal).order_by(Appeal.id)))
    finally:
        await db.close()


async def test_an_appellant_s_name_and_address_reach_only_their_municipality_s_staff(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    export_wishes: ExportWishes,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    say: Say,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)  # the level `civicbot serve` logs at
    # The job runs at whatever hour the test does (the quiet hours: tests/test_appeals_clock).
    monkeypatch.setattr(appeal_clock, "SEND_FROM", time(0))
    runtime = await start_bot("webhook", **twilio_settings())
    appellant = await resident(runtime, telegram, 9821, "ky")
    await appellant.leave_wish("change", category("roads")["ky"], "Көпүрө кулап калды")
    await appellant.send("/appeal")
    await appellant.send(TELEGRAM_APPELLANT[0])
    [registered] = await appellant.send(TELEGRAM_APPELLANT[1])
    await text(runtime, "ЖЕР naryn_city", PHONE)
    await text(runtime, "ӨЗГӨРТ 1 Суу жок үч күн", PHONE)
    await text(runtime, "ӨТҮНҮЧ", PHONE)
    await text(runtime, SMS_APPELLANT[0], PHONE)
    sms_registered = await text(runtime, SMS_APPELLANT[1], PHONE)
    # In the web chat, what the appellant types is answered and not carried on the page.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = WebVisitor(runtime.base_url, http)
        await visitor.settle_in_naryn()
        await visitor.leave_wish("The bus stop has no roof")
        for typed in ("/appeal", *WEB_APPELLANT, "/help"):
            assert (await visitor.post(text=typed))[0] == 200
        page = " ".join(visitor.conversation()) + visitor.field("history")
        assert "/appeal" in " ".join(visitor.conversation())
    appeals = await appeals_of(database_url)
    assert len(appeals) == 3
    assert appeals[0].number in registered and appeals[1].number in sms_registered

    # Both past their due date, and the clock run: staff and residents are told.
    late = working_days_before(appeals[0].registered_on, 3)
    async with runtime.db.session() as session, session.begin():
        await session.execute(update(Appeal).values(due_on=late))
    assert runtime.jobs is not None
    assert runtime.jobs.scheduler.get_job("appeal_clock") is not None  # every ten minutes
    await runtime.jobs.appeal_clock()
    assert all(appeal.overdue_at is not None for appeal in await appeals_of(database_url))

    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9822, "en", role="staff", municipality="naryn_city"
    )
    deputy = await official_on_telegram(
        runtime, telegram, civicbot, 9823, "en", role="deputy", municipality="naryn_city"
    )
    reference = appeals[0].wish.reference
    [card] = await staff.send(f"/inbox {reference}")
    assert TELEGRAM_APPELLANT[0] in card and TELEGRAM_APPELLANT[1] in card  # staff read them
    [card] = await deputy.send(f"/inbox {reference}")
    [deputy_page] = await deputy.send("/inbox")
    digest = "\n".join(await deputy.send("/digest"))
    assert appeals[0].number in card and appeals[0].number in digest
    days = working_days_between(late, appeals[0].registered_on)
    for appeal in appeals:  # the deputies' digest lists them, as the operator's command does
        topic = say("en", f"category.{appeal.wish.category}")
        values = {"number": appeal.number, "reference": appeal.wish.reference, "topic": topic}
        assert say("en", "appeal.digest_line", days=days, **values) in digest
    rc, overdue, err = await civicbot("appeals", "overdue", "--municipality", "naryn_city")
    assert rc == 0, err
    assert overdue.splitlines() == [
        f"{a.number}\tnaryn_city\t{a.wish.reference}\t{a.wish.category}\t{late}\t{days}"
        for a in appeals
    ]

    exported = await export_wishes("--municipality", "naryn_city")
    assert {row["reference"] for row in exported} >= {a.wish.reference for a in appeals}
    _, _, open311 = await get(runtime, "/open311/v2/requests.json?jurisdiction_id=naryn_city")
    _, _, public = await get(runtime, "/m/naryn_city")
    read = [page, card, deputy_page, digest, overdue, open311, public, str(exported), caplog.text]
    assert [(n, r[:80]) for r in read for n in needles() if n in r] == []
    # Answers on time, with the three appeals overdue in them: the pages, the open data, the
    # operator's export (the digest's lines are in the deputy's digest above).
    on_time_csv = tmp_path / "accountability.csv"
    rc, _, err = await civicbot("export", "accountability", "--output", str(on_time_csv))
    assert rc == 0, err
    on_time = [on_time_csv.read_text(encoding="utf-8")]
    for path in ("/accountability", "/accountability.json", "/stats/naryn_city.json"):
        status, body, shown = await get(runtime, path)
        assert status == 200, path
        on_time.append(shown)
    assert body["accountability"]["overdue_now"]["appeals"] == len(appeals)
    assert [(n, r[:80]) for r in on_time for n in needles() if n in r] == []
    everything = await dump(runtime.db)
    assert [hit for rows in everything.values() for hit in found(needles(), rows)] == []
    if make_url(database_url).get_backend_name() == "sqlite":
        raw = raw_files(tmp_path)
        assert raw
        assert [n for n in needles() if n.encode() in raw] == []
