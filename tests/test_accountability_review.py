"""The accountability figures after review (issue 30), on fixed dates in June 2026 (no
holiday in it) with a period of 3 working days: a wish is answered by its first final
status, not an interim one; a wish made an appeal later keeps its place in the periods
before; a past week's figures count what was overdue at its end; the ranking sorts on the
exact share and the shown share never rounds a late answer away; `/digest` mid-week shows
answers on time once; requests arriving together read the country once; the national page
reads nothing while its figures are kept, and its JSON says when they were read."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from bot.digests.delivery import Digests
from bot.digests.text import day
from bot.reports import accountability as report
from bot.runtime.config import Settings
from bot.runtime.i18n import Catalogues
from handlers import accountability
from handlers.types import DigestOrder
from handlers.weeks import Week
from storage import queries
from storage.db import Database
from storage.models import Appeal, Wish
from tests.accountability import Item, freeze, local, put
from tests.conftest import SECRET_KEY, Say, StartBot
from tests.places import municipality
from tests.test_open_data import get

D = dt.date
TODAY = D(2026, 6, 17)  # a Wednesday; the week before is W24 (8–14 June)
DAYS = 3
ZONE = "Asia/Bishkek"


@contextmanager
def selects(db: Database) -> Iterator[list[str]]:
    """The statements reading municipalities, wishes or appeals sent inside the block (not
    a new connection's own, nor a background job's of other tables)."""
    seen: list[str] = []
    tables = ("FROM municipalities", "FROM wishes", "FROM appeals")

    def record(*args: object) -> None:
        statement = " ".join(str(args[2]).split())
        if statement.upper().startswith("SELECT") and any(t in statement for t in tables):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def naryn(db: Database) -> int:
    async with db.session() as session:
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        return place.id


async def figures_of(
    db: Database, last: Week, today: dt.date = TODAY
) -> accountability.Accountability:
    async with db.session() as session:
        found = await accountability.figures(session, None, last, today, ZONE, DAYS)
    return accountability.of(found, await naryn(db))


async def test_a_wish_is_answered_by_its_first_final_status_not_an_interim_one(
    db: Database, database_url: str
) -> None:
    await put(database_url, [
        # Mon 1 Jun, due Thu 4 Jun: "accepted" the same day, done Fri 12 Jun — late, 9 days.
        Item("naryn_city", local(D(2026, 6, 1)), local(D(2026, 6, 12)),
             interim=local(D(2026, 6, 1), 11)),
        # Mon 1 Jun: "accepted" the same day and nothing since — unanswered, overdue.
        Item("naryn_city", local(D(2026, 6, 1)), interim=local(D(2026, 6, 1), 11)),
        # Tue 2 Jun, declined Wed 3 Jun: a final status, in time.
        Item("naryn_city", local(D(2026, 6, 2)), local(D(2026, 6, 3)), answer_status="declined"),
    ])  # fmt: skip
    four = (shown := await figures_of(db, Week.of(TODAY))).periods[4]
    assert (four.wishes_answered, four.counted, four.in_time, sorted(four.days)) == (
        2,
        3,
        1,
        [1, 9],
    )
    assert (shown.overdue_wishes, shown.overdue_appeals) == (1, 0)


async def test_a_wish_appealed_later_stays_in_the_weeks_before_and_is_the_appeal_after(
    db: Database, database_url: str
) -> None:
    """W23 (1–7 June) read as a past week: a wish due Thu 4 Jun unanswered and an appeal
    due the same day answered on Wed 10 Jun were both overdue at its end, Sun 7 Jun."""
    week = Week.of(D(2026, 6, 3))
    await put(database_url, [
        Item("naryn_city", local(D(2026, 6, 1))),
        Item("naryn_city", local(D(2026, 6, 1)), local(D(2026, 6, 10)), due=D(2026, 6, 4)),
    ])  # fmt: skip
    before, place = await figures_of(db, week), await naryn(db)
    assert (before.periods[4].counted, before.periods[4].in_time) == (2, 0)
    assert (before.overdue_wishes, before.overdue_appeals) == (1, 1)  # at the week's end

    # Wed 10 Jun the resident makes the old wish an appeal, due Mon 15 Jun, not answered.
    async with db.session() as session, session.begin():
        appealed = select(Appeal.wish_id)
        wish = await session.scalar(
            select(Wish).where(Wish.municipality_id == place, ~Wish.id.in_(appealed))
        )
        assert wish is not None
        session.add(Appeal(
            wish_id=wish.id, municipality_id=wish.municipality_id, number="A-late",
            sealed=None, registered_on=D(2026, 6, 10), due_on=D(2026, 6, 15),
            first_due_on=D(2026, 6, 15),
        ))  # fmt: skip
    after = await figures_of(db, week)
    assert after.periods == before.periods  # what W23's digest said, it still says
    assert (after.overdue_wishes, after.overdue_appeals) == (1, 1)
    # Today: the wish fell due unanswered before it was appealed; the appeal is overdue now,
    # the wish no longer (it is the appeal).
    now = await figures_of(db, Week.of(TODAY))
    assert (now.periods[4].counted, now.periods[4].appeals_answered) == (3, 1)
    assert (now.overdue_wishes, now.overdue_appeals) == (0, 1)


def test_the_ranking_sorts_on_the_exact_share_and_the_shown_share_rounds_down() -> None:
    def place(counted: int, in_time: int, day: int) -> accountability.Accountability:
        shown = accountability.empty()
        shown.periods[12] = accountability.Figures(
            wishes_answered=counted, counted=counted, in_time=in_time, days=[day] * counted
        )
        return shown

    # 995 of 1000 and 999 of 1000 both round to 100: the second is better, though slower.
    found = {1: place(1000, 995, 1), 2: place(1000, 999, 2), 3: place(200, 1, 0)}
    assert [p for p, _ in accountability.ranked(found, 12)] == [2, 1, 3]
    assert [found[p].periods[12].share for p in (1, 2, 3)] == [99, 99, 1]  # never 100, nor 0
    assert accountability.Figures(counted=3, in_time=3).share == 100
    assert accountability.Figures(counted=3, in_time=0).share == 0


async def test_digest_mid_week_shows_answers_on_time_once(
    db: Database, database_url: str, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/digest on Wed 17 Jun: W24's digest with its answers on time and overdue, then the
    week so far (a wish came on Tuesday) without them."""
    await put(database_url, [
        Item("naryn_city", local(D(2026, 4, 1))),  # overdue since April
        Item("naryn_city", local(D(2026, 6, 16))),
    ])  # fmt: skip
    digests = Digests(Settings(database_url=database_url, secret_key=SECRET_KEY), db, Catalogues())
    monkeypatch.setattr(digests, "_today", lambda: TODAY)
    order = DigestOrder(await naryn(db), "2026-W24", with_table=False)
    parts = await digests.compose_now("en", order, None)
    texts = [part.text for part in parts if part.kind == "text"]
    so_far = say(
        "en", "digest.title_so_far", place=municipality("naryn_city")["en"],
        first=day(D(2026, 6, 15), "en"), last=day(TODAY, "en"), week=25,
    )  # fmt: skip
    assert len(texts) == 2 and texts[1].startswith(so_far)
    # W24's, counted and said as at its end; not again, as of now, in the week so far.
    week_end = say("en", "accountability.overdue_week_end", appeals=0, wishes=1)
    now = say("en", "accountability.overdue", appeals=0, wishes=1)
    assert [(text.count(week_end), text.count(now)) for text in texts] == [(1, 0), (0, 0)]


async def test_requests_arriving_together_read_the_whole_country_once(
    db: Database, database_url: str
) -> None:
    await put(database_url, [Item("naryn_city", local(D(2026, 6, 1)))])

    async def one() -> report.Read:
        async with db.session() as session:
            return await report.read_all(session, TODAY, ZONE, DAYS, 60.0)

    with selects(db) as seen:
        readings = await asyncio.gather(*(one() for _ in range(5)))
    assert len(seen) == 4  # one reading's four queries, not five readings'
    assert all(reading is readings[0] for reading in readings)


async def test_the_national_page_reads_nothing_while_kept_and_says_when_it_was_read(
    start_bot: StartBot, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze(monkeypatch, TODAY, 12)
    await put(database_url, [Item("naryn_city", local(D(2026, 6, 1)))])
    runtime = await start_bot("webhook")
    status, first, _ = await get(runtime, "/accountability.json")
    assert status == 200 and first["generated_at"] == "2026-06-17T12:00:00+06:00"
    later = local(TODAY, 12).astimezone(dt.UTC) + dt.timedelta(seconds=30)
    for module in ("bot.web.accountability_page", "bot.reports.accountability"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: later)
    with selects(runtime.db) as seen:
        status, again, _ = await get(runtime, "/accountability.json")
        page_status, _, _ = await get(runtime, "/accountability")
    assert (status, page_status, seen) == (200, 200, [])  # the kept reading and places
    assert again["generated_at"] == first["generated_at"]  # when read, not when sent
