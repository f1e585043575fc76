"""A poll's tally (handlers/poll_results.py): counted by option, village and channel with paper
in every figure, cells under 5 people withheld so that none can be worked out from the
totals shown, people who joined during the poll flagged, and the representativeness
figures; then read from answers stored on both databases."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.sms.segments import is_gsm7, segments
from bot.digests import content
from bot.digests.text import render
from bot.runtime.i18n import Catalogues
from handlers.dates import day_month
from handlers.poll_outcome import FINAL, final_values
from handlers.poll_results import (
    MIN_CELL,
    NO_VILLAGE,
    Group,
    count,
    suppress,
    tally_of,
)
from handlers.types import Text
from handlers.weeks import Week
from storage import queries
from storage.db import Database
from storage.models import Poll, PollOption, Village, utcnow

TIMEZONE = "Asia/Bishkek"


def test_paper_counts_in_every_figure_and_joiners_are_flagged() -> None:
    groups = [
        Group((1,), "telegram", 1, None, None, False, 30),
        Group((2,), "sms", 1, "18-29", "f", True, 7),
        Group((2,), "paper", 2, None, "m", False, 12),
        Group((1,), "paper", None, None, "f", False, 3),
    ]
    villages = [Village(id=1, position=1, population=2000), Village(id=2, position=2)]
    tally = count(groups, 3, True, villages, population=10_000)
    assert tally.total == 52 and tally.paper == 15 and tally.joined_during == 7
    assert tally.counts == (33, 19, 0)
    assert [row.key for row in tally.by_channel] == ["telegram", "sms", "paper"]
    paper = tally.by_channel[-1]
    assert paper.total == 15 and paper.cells[1] == 12
    assert [row.key for row in tally.by_village] == [1, 2, NO_VILLAGE]
    assert sum(row.total for row in tally.by_village) == tally.total
    whole, first, second = tally.reach
    assert (whole.answers, whole.population, whole.per_thousand) == (52, 10_000, 5.2)
    assert (first.answers, first.per_thousand) == (37, 18.5)
    assert second.per_thousand is None  # population not known
    # 10 of the 22 who said are women; 7 said their age: fewer than 5 per band is withheld.
    assert tally.gender.said == 22 and tally.gender.percent("f") == 45
    assert tally.ages.said == 7 and tally.ages.counts["18-29"] == 7


def test_a_priority_vote_counts_each_option_chosen() -> None:
    tally = count([Group((1, 3), "sms", None, None, None, False, 6)], 3, False)
    assert tally.counts == (6, 0, 6) and tally.total == 6
    assert tally.percent(1) == tally.percent(3) == 100


def test_a_lone_withheld_cell_takes_another_with_it() -> None:
    # Village 2's 3 answers for option 1 would be read as 10 - 7 beside the total 10.
    rows = suppress([(1, [17, 10, 7]), (2, [13, 3, 10])], single=True)
    assert rows[1].cells[0] is None
    assert rows[1].cells[1] is None  # its row's total would give the 3 back
    assert rows[0].cells[0] is None  # so would option 1's count over both villages
    assert all(row.total for row in rows)  # the totals of answers stay


rows_of = st.lists(st.lists(st.integers(0, 12), min_size=3, max_size=3), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(rows_of, st.booleans())
def test_no_withheld_cell_can_be_worked_out(cells: list[list[int]], single: bool) -> None:
    rows = suppress([(n, [sum(c) if single else 99, *c]) for n, c in enumerate(cells)], single)
    shown = [row.cells for row in rows]
    for line in shown:
        assert all(c is None or c >= MIN_CELL for c in line)
        if single:  # each answer one choice: the row's total gives back a lone withheld cell
            assert sum(c is None for c in line) != 1
    if len(rows) > 1:  # the option's count over every row gives back a lone withheld cell
        for option in range(3):
            assert sum(line[option] is None for line in shown) != 1
    assert [r.total for r in rows] == [(sum(c) if single else 99) for c in cells]


def test_a_lone_withheld_gender_or_age_is_not_given_back_by_those_who_said() -> None:
    # 20 women and 3 men: beside "23 said", a shown 20 would give the 3 men back.
    groups = [
        Group((1,), "sms", None, "18-29", "f", False, 10),
        Group((1,), "sms", None, "30-44", "f", False, 6),
        Group((2,), "sms", None, "45-59", "f", False, 4),
        Group((2,), "sms", None, "60+", "m", False, 3),
    ]
    tally = count(groups, 2, True)
    assert tally.gender.said == 23 and tally.gender.counts == {"f": None, "m": None}
    # 60+ alone under 5 (45-59 too here): the next smallest goes with them if need be.
    assert tally.ages.said == 23
    assert tally.ages.counts == {"18-29": 10, "30-44": 6, "45-59": None, "60+": None}
    lone = count([*groups[:2], Group((2,), "sms", None, "45-59", "m", False, 7)], 2, True)
    assert lone.ages.counts == {"18-29": 10, "30-44": None, "45-59": 7, "60+": None}


traits = st.lists(
    st.tuples(st.sampled_from(["f", "m", None]), st.sampled_from(["18-29", "60+", "14-17", None])),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(traits)
def test_no_withheld_gender_or_age_can_be_worked_out_from_those_who_said(
    people: list[tuple[str | None, str | None]],
) -> None:
    groups = [Group((1,), "sms", None, age, gender, False, 1) for gender, age in people]
    tally = count(groups, 1, True)
    for said, trait in ((tally.gender, 0), (tally.ages, 1)):
        assert said.said == sum(1 for p in people if p[trait] in said.counts)
        shown = list(said.counts.values())
        assert all(c is None or c >= MIN_CELL for c in shown)
        assert sum(c is None for c in shown) != 1  # else `said` less the others gives it


async def test_a_priority_vote_of_one_choice_withholds_as_a_poll_does(db: Database) -> None:
    # Each answer one choice: a village's total less its shown cells gives its lone one.
    async with db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        village = await queries.add_village(session, place.id, {"ky": "Жаңы-Жол"}, 500)
        poll = await queries.add_poll(
            session, place.id, {"ky": "Эмне?"}, [{"label_ky": "Жол"}, {"label_ky": "Суу"}],
            utcnow() + timedelta(days=3), status="open", kind="priority", max_choices=1,
        )  # fmt: skip
        for n, choice in enumerate([1] * 9 + [2] * 2):
            await queries.record_answer(
                session, poll.id, f"p{n}", [choice], date.today(), channel="sms",
                village_id=village.id,
            )  # fmt: skip
    async with db.session() as session:
        stored = await queries.poll_by_code(session, poll.code)
        assert stored is not None
        _, tally = await tally_of(session, stored)
    [row] = [r for r in tally.by_village if r.key == village.id]
    assert row.total == 11 and row.cells == (None, None)


async def test_answers_stored_are_tallied_on_both_databases(db: Database) -> None:
    async with db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        village = await queries.add_village(session, place.id, {"ky": "Ак-Талаа"}, 800)
        poll = await queries.add_poll(
            session,
            place.id,
            {"ky": "Кайсы жол?"},
            [{"label_ky": "Базар"}, {"label_ky": "Мектеп"}],
            utcnow() + timedelta(days=3),
            status="open",
        )
        for n in range(6):
            await queries.record_answer(
                session, poll.id, f"k{n}", [1], date.today(), channel="sms", village_id=village.id
            )
        # The last answer counts (k0 changes its mind); the village it said stays.
        await queries.record_answer(session, poll.id, "k0", [2], date.today(), channel="sms")
        await queries.record_answer(
            session, poll.id, "paper:1", [2], date.today(), channel="paper", entered_by=None
        )
    async with db.session() as session:
        stored = await queries.poll_by_code(session, poll.code)
        assert stored is not None
        options, tally = await tally_of(session, stored)
    assert len(options) == 2
    assert tally.total == 7 and tally.counts == (5, 2) and tally.paper == 1
    assert {row.key: row.total for row in tally.by_village} == {village.id: 6, NO_VILLAGE: 1}
    assert tally.reach[1].answers == 6 and tally.reach[1].population == 800


async def test_the_weekly_digest_names_polls_closed_in_the_week_and_those_open(
    db: Database,
) -> None:
    zone = ZoneInfo(TIMEZONE)
    now = utcnow()
    week = Week.of(now.astimezone(zone).date())
    start, end = week.bounds(TIMEZONE)
    moment = start + (now - start) / 2  # inside the week, however little of it has gone
    async with db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        two = [{"label_ky": "Базар", "label_en": "Market"}, {"label_ky": "Мектеп"}]
        ended = await queries.add_poll(
            session, place.id, {"ky": "Кайсы жол?", "en": "Which road?"}, two, moment,
            status="closed", closed_at=moment, opens_at=moment - timedelta(days=20),
        )  # fmt: skip
        for n, choice in enumerate((1, 1, 2)):
            await queries.record_answer(
                session, ended.id, f"d{n}", [choice], moment.date(), channel="sms"
            )
        running = await queries.add_poll(
            session, place.id, {"ky": "Парк?", "en": "A park?"}, two, end + timedelta(days=1),
            status="open", opens_at=moment - timedelta(days=1),
        )  # fmt: skip
        empty = await queries.add_poll(
            session, place.id, {"ky": "Ким?", "en": "Anyone?"}, two, moment,
            status="closed", opens_at=moment - timedelta(days=20),
        )  # fmt: skip
        await queries.add_poll(  # a draft is nobody's business yet
            session, place.id, {"ky": "Долбоор"}, two, end, status="draft"
        )
        digest = await content.collect(session, place, week, TIMEZONE, now.date(), 14)
    text = render(digest, Catalogues(), "en")
    heading = Catalogues().text("en", Text("poll_results.digest_heading"))
    section = text.split(f"{heading}\n")[1].split("\n\n")[0]
    # The last day answers are taken: it closes at the midnight that ends that day.
    closes = day_month((end + timedelta(days=1, microseconds=-1)).astimezone(zone).date(), "en")
    assert section.splitlines() == [
        f"   • {running.code} «A park?» is open until {closes}: answers so far 0.",
        f"   • {empty.code} «Anyone?» closed with no answers.",  # closed as late: newer first
        f"   • {ended.code} «Which road?» closed: answers 3; most chose «Market» (67%).",
    ]


async def test_the_week_so_far_calls_a_poll_closing_later_this_week_open(db: Database) -> None:
    zone = ZoneInfo(TIMEZONE)
    now = utcnow()
    week = Week.of(now.astimezone(zone).date())
    _, end = week.bounds(TIMEZONE)
    later = now + (end - now) / 2  # still inside the week, after now
    async with db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        two = [{"label_ky": "Базар", "label_en": "Market"}, {"label_ky": "Мектеп"}]
        running = await queries.add_poll(
            session, place.id, {"ky": "Жол?", "en": "A road?"}, two, later,
            status="open", opens_at=now - timedelta(hours=1),
        )  # fmt: skip
        for n in range(3):
            await queries.record_answer(
                session, running.id, f"w{n}", [1], now.date(), channel="sms"
            )
        await queries.add_poll(  # opens later this week: not open yet, so not in it
            session, place.id, {"ky": "Көпүрө?", "en": "A bridge?"}, two, end,
            status="open", opens_at=later,
        )  # fmt: skip
        digest = await content.collect(session, place, week, TIMEZONE, now.date(), 14)
    text = render(digest, Catalogues(), "en")
    heading = Catalogues().text("en", Text("poll_results.digest_heading"))
    section = text.split(f"{heading}\n")[1].split("\n\n")[0]
    closes = day_month(later.astimezone(zone).date(), "en")
    assert section.splitlines() == [
        f"   • {running.code} «A road?» is open until {closes}: answers so far 3.",
    ]


def test_the_results_notice_by_sms_fits_one_segment() -> None:
    long = "Базар көчөсүн асфальттоо жана түнкү жарык орнотуу"
    poll = Poll(code="4127", question_ky="Эмнени биринчи кылабыз?", municipality_id=1)
    options = [PollOption(position=1, label_ky=long), PollOption(position=2, label_ky="Суу")]
    tally = count([Group((1,), "sms", None, None, None, False, 41_273)], 2, True)
    catalogues = Catalogues()
    sms = catalogues.text("ky", Text(FINAL, final_values(poll, options, tally, "ky", True)), "sms")
    assert segments(sms) == 1, sms
    assert long not in sms and long[:10] in sms
    whole = catalogues.text("ky", Text(FINAL, final_values(poll, options, tally, "ky")))
    assert long in whole  # on Telegram, WhatsApp: the whole name
    # In English the cut name keeps the SMS in GSM-7 (an "…" would make it UCS-2).
    options[0].label_en = "Paving the bazaar street and putting up street lights at night"
    sms = catalogues.text("en", Text(FINAL, final_values(poll, options, tally, "en", True)), "sms")
    assert is_gsm7(sms) and segments(sms) == 1, sms


def test_an_age_band_outside_the_usual_ones_is_counted_not_dropped() -> None:
    groups = [
        Group((1,), "sms", None, "18-29", None, False, 6),
        Group((2,), "sms", None, "14-17", None, False, 5),
    ]
    ages = count(groups, 2, True).ages
    assert ages.said == 11 and ages.counts["14-17"] == 5 and ages.counts["60+"] is None
    assert list(ages.counts)[-1] == "14-17"  # after the usual bands
