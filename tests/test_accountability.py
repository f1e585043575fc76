"""The accountability figures counted by hand on fixed dates (May 2026: the May holidays,
1–9 May, and weekends inside the legal period): answered, in time, median working days,
overdue now; hidden wishes, duplicates, wishes to praise and another municipality left out;
a wish's day read in TIMEZONE, not UTC; and every municipality in the same four queries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import event

from handlers import accountability
from handlers.types import Text
from handlers.weeks import Week
from storage import queries
from storage.db import Database
from tests.accountability import Item, local, put
from tests.conftest import Civicbot, Say

TODAY = dt.date(2026, 5, 20)  # a Wednesday
DAYS = 3  # working days to answer, so that the hand counts stay short
D = dt.date


def naryn_and_osh() -> list[Item]:
    return [
        # Thu 30 Apr: due Wed 13 May (1–10 May are holidays and weekends); answered that day.
        Item("naryn_city", local(D(2026, 4, 30)), local(D(2026, 5, 13), 17)),
        # Fri 15 May 00:30 (Thu 14 May in UTC): due Wed 20 May, answered on it — in time only
        # when the day is read in Bishkek.
        Item("naryn_city", local(D(2026, 5, 15), 0, 30), local(D(2026, 5, 20))),
        # Mon 11 May: due Thu 14 May; answered Mon 18 May: late, five working days.
        Item("naryn_city", local(D(2026, 5, 11)), local(D(2026, 5, 18))),
        # Tue 12 May: due Fri 15 May, never answered: late in the share, overdue now.
        Item("naryn_city", local(D(2026, 5, 12))),
        # Tue 19 May: due Fri 22 May: neither counted nor overdue yet.
        Item("naryn_city", local(D(2026, 5, 19))),
        # Left out: hidden, a duplicate, a wish to praise — none answered, all long overdue.
        Item("naryn_city", local(D(2026, 4, 1)), hidden=True),
        Item("naryn_city", local(D(2026, 4, 1)), status="duplicate"),
        Item("naryn_city", local(D(2026, 4, 1)), kind="great"),
        # Appeals. Registered Wed 29 Apr, first due Tue 12 May, extended to today: due, not
        # overdue, and not yet counted.
        Item("naryn_city", local(D(2026, 4, 29)), due=D(2026, 5, 20), first_due=D(2026, 5, 12)),
        # Registered Mon 11 May, due Thu 14 May, answered Fri 15 May: late, four days.
        Item("naryn_city", local(D(2026, 5, 11)), local(D(2026, 5, 15)), due=D(2026, 5, 14)),
        # Registered Mon 2 Mar, due Thu 5 Mar, never answered: in the 12 weeks, not the 4.
        Item("naryn_city", local(D(2026, 3, 2)), due=D(2026, 3, 5)),
        # Osh: one wish answered the next working day.
        Item("osh", local(D(2026, 5, 15)), local(D(2026, 5, 18))),
    ]


async def test_the_figures_match_a_hand_count_across_holidays_and_weekends(
    db: Database, database_url: str
) -> None:
    await put(database_url, naryn_and_osh())
    statements: list[str] = []
    engine = db.engine.sync_engine
    listen = (engine, "before_cursor_execute")

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(*listen, seen)
    try:
        async with db.session() as session:
            found = await accountability.figures(
                session, None, Week.of(TODAY), TODAY, "Asia/Bishkek", DAYS
            )
    finally:
        event.remove(*listen, seen)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 4
    async with db.session() as session:
        naryn_id, osh_id = [
            (await queries.municipality_by_key(session, key)).id  # type: ignore[union-attr]
            for key in ("naryn_city", "osh")
        ]
    naryn = accountability.of(found, naryn_id)
    four, twelve = naryn.periods[4], naryn.periods[12]
    assert (four.appeals_answered, four.wishes_answered) == (1, 3)
    assert (four.counted, four.in_time, four.share) == (5, 2, 40)
    assert sorted(four.days) == [3, 3, 4, 5] and four.median == 3.5
    assert (twelve.counted, twelve.in_time, twelve.share, twelve.answered) == (6, 2, 33, 4)
    assert (naryn.overdue_appeals, naryn.overdue_wishes) == (1, 1)
    osh = accountability.of(found, osh_id)
    assert (osh.periods[4].share, osh.periods[4].median, osh.overdue) == (100, 1.0, 0)
    # One municipality asked for alone: the same figures.
    async with db.session() as session:
        alone = await accountability.figures(
            session, [naryn_id], Week.of(TODAY), TODAY, "Asia/Bishkek", DAYS
        )
    assert list(alone) == [naryn_id] and alone[naryn_id].periods[4].days == four.days
    country = accountability.national(found.values())
    assert country.periods[4].median == 3.0 and country.periods[4].counted == 6
    # Ranking needs MIN_ITEMS counted: neither has ten.
    assert accountability.ranked(found, 12) == []


async def test_the_digest_shows_the_four_weeks_beside_the_country(
    civicbot: Civicbot,
    database_url: str,
    say: Say,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Week 21 of 2026 read later (today is past it): the Tuesday wish and the appeal
    extended to Wednesday fell due in it unanswered; all four unanswered are overdue now."""
    await put(database_url, naryn_and_osh())
    monkeypatch.setenv("APPEAL_ANSWER_DAYS", str(DAYS))
    monkeypatch.chdir(tmp_path)  # the preview writes its chart here
    rc, out, err = await civicbot(
        "digest", "preview", "--municipality", "naryn_city", "--lang", "en", "--period", "2026-W21"
    )
    assert rc == 0, err
    period = Text("accountability.period", {"weeks": 4})
    figures = say(
        "en", "accountability.digest", period=period, share="28%", in_time=2, counted=7,
        days=DAYS, median="3.5", national="3",
    )  # fmt: skip
    overdue = say("en", "accountability.overdue_week_end", appeals=2, wishes=2)
    assert f"\n\n{figures}\n{overdue}" in out
    # Osh's own, in Russian: its one wish, answered the next working day.
    rc, out, err = await civicbot(
        "digest", "preview", "--municipality", "osh", "--lang", "ru", "--period", "2026-W21"
    )
    assert rc == 0, err
    figures = say(
        "ru", "accountability.digest", period=period, share="100%", in_time=1, counted=1,
        days=DAYS, median="1", national="3",
    )  # fmt: skip
    assert (
        figures in out
        and say("ru", "accountability.overdue_week_end", appeals=0, wishes=0) not in out
    )


async def test_a_digest_run_reads_the_country_once_not_per_municipality(
    db: Database, database_url: str
) -> None:
    from bot.digests import accountability as digest_figures

    await put(database_url, naryn_and_osh())
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    lines, read = [], []
    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with db.session() as session:
            for key in ("naryn_city", "osh", "lenin"):
                place = await queries.municipality_by_key(session, key)
                assert place is not None
                before = len(statements)
                lines.append(
                    await digest_figures.collect(
                        session, place, Week.of(TODAY), "Asia/Bishkek", TODAY, DAYS
                    )
                )
                read.append(len(statements) - before)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert read == [4, 0, 0]  # the first digest's four queries; the others none
    assert [line.own.counted for line in lines] == [5, 1, 0]
    assert {line.national.median for line in lines} == {3.0}


def test_the_ranking_takes_the_share_then_the_fewest_days_and_no_answer_last() -> None:
    def place(counted: int, in_time: int, days: list[int]) -> accountability.Accountability:
        shown = accountability.empty()
        shown.periods[12] = accountability.Figures(
            wishes_answered=len(days), counted=counted, in_time=in_time, days=days
        )
        return shown

    found = {
        1: place(10, 10, [2] * 10),
        2: place(12, 12, [1] * 12),
        3: place(10, 0, []),  # nothing answered: every one fell due unanswered
        4: place(10, 0, [5] * 10),
        5: place(accountability.MIN_ITEMS - 1, 9, [0] * 9),  # too few to rank
    }
    assert [place for place, _ in accountability.ranked(found, 12)] == [2, 1, 4, 3]
