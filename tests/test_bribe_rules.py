"""Bribe-report rules without a channel: amounts, scrubbing, months, and the aggregates
against numbers worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from bot.commands.cli import UsageError, parse_period
from bot.reports import bribe_stats
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers.bribes import month_name, parse_amount, recent_months, split_amount
from handlers.scrub import scrub
from storage import queries


@pytest.mark.parametrize(
    "text,amount",
    [
        ("5000", 5000),
        ("5 000", 5000),
        ("5\u00a0000", 5000),
        ("5,000", 5000),
        ("5000 сом", 5000),
        ("5 000 сом", 5000),
        ("5000сом", 5000),
        ("5000 som", 5000),
        ("5k", 5000),
        ("5К", 5000),
        ("1.5k", 1500),
        ("1,5к", 1500),
        ("2 миң", 2000),
        ("300", 300),
        ("10 000 000", 10_000_000),
    ],
)
def test_amounts_residents_write(text: str, amount: int) -> None:
    assert parse_amount(text) == (amount, None)


@pytest.mark.parametrize(
    "text,problem",
    [
        ("көп", "bribe.amount_nonsense"),
        ("много", "bribe.amount_nonsense"),
        ("5000 долларов", "bribe.amount_nonsense"),
        ("0", "bribe.amount_nonsense"),
        ("", "bribe.amount_nonsense"),
        ("-500", "bribe.amount_negative"),
        ("10 000 001", "bribe.amount_too_big"),
        ("99999999", "bribe.amount_too_big"),
    ],
)
def test_amounts_refused(text: str, problem: str) -> None:
    amount, error = parse_amount(text)
    assert amount is None and error is not None and error.key == problem


@pytest.mark.parametrize(
    "text,expected",
    [
        ("5000 Аким сурады", ("5000", "Аким сурады")),
        ("5 000 сом акимге", ("5 000 сом", "акимге")),
        ("5k", ("5k", "")),
        ("Аким 5000 сурады", ("", "Аким 5000 сурады")),
        ("99999999 too much", ("99999999", "too much")),
        ("", ("", "")),
    ],
)
def test_sms_amount_and_text_are_told_apart(text: str, expected: tuple[str, str]) -> None:
    assert split_amount(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Чалыңыз +996 555 123 456", "Чалыңыз ***"),
        ("тел 0555-12-34-56 акимдин", "тел *** акимдин"),
        ("(0312) 62-45-67", "***"),
        ("ПИН 21203199001234 деп", "ПИН *** деп"),
        ("mail aibek.k@example.kg please", "mail *** please"),
        ("жаз @aibek_k телеграмдан", "жаз *** телеграмдан"),
        ("5000 сом, 2 жолу, 12.03.2025", "5000 сом, 2 жолу, 12.03.2025"),
    ],
)
def test_scrubbing(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_recent_months_and_their_names() -> None:
    assert recent_months(date(2026, 2, 10)) == ["2026-02", "2026-01", "2025-12", "2025-11"]
    assert month_name("2026-11", "ky") == "Ноябрь 2026"
    assert month_name("2026-11", "ru") == "Ноябрь 2026"
    assert month_name("2026-11", "en") == "November 2026"


def test_periods() -> None:
    today = date(2026, 11, 24)
    assert parse_period(None, today) == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert parse_period("2026-11", today) == ["2026-11"]
    assert parse_period("2025-12:2026-02", today) == ["2025-12", "2026-01", "2026-02"]
    for bad in ("2026-13", "last month", "2026-11:2026-01", "2020-01:2026-01"):
        with pytest.raises(UsageError):
            parse_period(bad, today)


# A month of reports in Naryn, worked out by hand below.
REPORTS = [
    # service 1 (certificates): 4 paid (1000, 2000, 3000, 10000), 3 not asked
    *[(1, "paid", a, "2026-10") for a in (1000, 2000, 3000)],
    (1, "paid", 10000, "2026-11"),
    *[(1, "not_asked", None, "2026-11")] * 3,
    # service 3 (land): 2 paid (50000, 70000), 1 refused — all small
    (3, "paid", 50000, "2026-11"),
    (3, "paid", 70000, "2026-11"),
    (3, "refused", None, "2026-11"),
    # service 4 (school): 3 asked by SMS, no amount
    *[(4, "asked", None, "2026-11")] * 3,
    # another month, outside the period
    (1, "paid", 999, "2026-07"),
]


async def test_aggregates_match_hand_counted_numbers(database_url: str) -> None:
    db = await prepare_database(Settings(database_url=database_url, secret_key="k"))
    try:
        async with db.session() as session, session.begin():
            naryn = await queries.municipality_by_key(session, "naryn_city")
            osh = await queries.municipality_by_key(session, "osh")
            assert naryn is not None and osh is not None
            for service, outcome, amount, month in REPORTS:
                await queries.add_bribe_report(
                    session,
                    service=service,
                    outcome=outcome,
                    amount=amount,
                    month=month,
                    municipality_id=naryn.id,
                    channel="sms",
                    text=None,
                    created_on=date(2026, 11, 20),
                )
            await queries.add_bribe_report(  # another place: not counted for Naryn
                session,
                service=1,
                outcome="paid",
                amount=5,
                month="2026-11",
                municipality_id=osh.id,
                channel="sms",
                text=None,
                created_on=date(2026, 11, 20),
            )
        stats = await bribe_stats.collect(db, naryn, ["2026-10", "2026-11"])
    finally:
        await db.close()

    certificates, land, school = (next(s for s in stats.services if s.code == c) for c in (1, 3, 4))
    assert certificates.by_outcome == {"paid": 4, "not_asked": 3}
    assert certificates.by_month == {"2026-10": 3, "2026-11": 4}
    assert certificates.median_amount == 2500  # median of 1000, 2000, 3000, 10000
    assert certificates.asked_share == pytest.approx(4 / 7)
    assert stats.cells[(1, "paid", "2026-10")] == 3
    assert land.total == 3 and land.median_amount is None  # only two amounts
    # 3 asked of 3: the share's parts are 3 and 0, so it gives no count of 1 or 2 away.
    assert land.asked_share == 1.0
    assert school.asked_share == 1.0
    assert stats.total == 13

    text = bribe_stats.render(stats, Catalogues(), "en")
    assert "1. Getting certificates — reports: 7" in text
    assert (
        "paid: 4 · refused: fewer than 3 · nobody asked: 3 · asked, no more said: fewer than 3"
        in text
    )
    assert "by month: 2026-10: 3, 2026-11: 4" in text
    assert "usual amount (median): 2 500 som" in text
    assert "a bribe was asked in 57% (2011 survey: sometimes 25.5%, often or always 21.2%)" in text
    # Land: three reports, but every cell below 3 and no median from two amounts.
    assert "3. Renting or buying municipal land or property — reports: 3" in text
    assert "paid: fewer than 3 · refused: fewer than 3 · nobody asked: fewer than 3" in text
    assert not any(f"{n} 000" in text for n in (50, 60, 70))  # no land amounts
    assert "999" not in text  # July is outside the period
    assert "Getting a job" not in text  # no reports, no line
    ky = bribe_stats.render(stats, Catalogues(), "ky")
    assert "3төн аз" in ky and "Маалымкат (справка) алуу" in ky


def test_a_share_is_withheld_when_it_would_reveal_a_count_of_one_or_two() -> None:
    service = bribe_stats.ServiceStats(1, by_outcome={"paid": 5, "not_asked": 2})
    assert service.asked_share is None  # 5 of 7 would say "two were not asked"
    service = bribe_stats.ServiceStats(1, by_outcome={"paid": 5, "not_asked": 3})
    assert service.asked_share == pytest.approx(5 / 8)
    service = bribe_stats.ServiceStats(1, by_outcome={"paid": 2})
    assert service.asked_share is None  # fewer than 3 in all
