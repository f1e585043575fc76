"""The appeals clock's working days: weekends and Kyrgyz public holidays, on fixed dates."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from handlers.working_days import (
    add_working_days,
    is_working_day,
    working_days_before,
    working_days_between,
)


def test_weekends_and_holidays_are_not_working_days() -> None:
    assert is_working_day(date(2026, 12, 4))  # a Friday
    assert not is_working_day(date(2026, 12, 5))  # Saturday
    assert not is_working_day(date(2026, 12, 6))  # Sunday
    assert not is_working_day(date(2026, 8, 31))  # Independence Day, a Monday
    assert not is_working_day(date(2027, 1, 7))  # Orthodox Christmas, a Thursday


def test_fourteen_working_days_across_weekends() -> None:
    # Registered on Friday 4 December: two full weeks of working days.
    assert add_working_days(date(2026, 12, 4), 14) == date(2026, 12, 24)


def test_the_new_year_holidays_push_the_due_date() -> None:
    # Registered on Monday 21 December 2026: 8 working days in 2026 (22–31 December), then
    # 1–7 January are holidays and 2–3 and 9–10 January weekends.
    assert add_working_days(date(2026, 12, 21), 14) == date(2027, 1, 15)


def test_registered_on_a_day_off_counts_from_the_next_working_day() -> None:
    assert add_working_days(date(2026, 12, 5), 1) == date(2026, 12, 7)  # Saturday → Monday


def test_the_reminder_three_working_days_before() -> None:
    assert working_days_before(date(2026, 12, 24), 3) == date(2026, 12, 21)  # Thu → Mon
    assert working_days_before(date(2027, 1, 11), 3) == date(2026, 12, 30)  # over the holidays


def test_days_late_are_counted_in_working_days() -> None:
    assert working_days_between(date(2026, 12, 24), date(2026, 12, 28)) == 2  # Fri, Mon
    assert working_days_between(date(2026, 12, 24), date(2026, 12, 24)) == 0
    assert working_days_between(date(2026, 12, 28), date(2026, 12, 24)) == 0


@given(st.dates(date(2024, 1, 1), date(2030, 12, 31)), st.integers(0, 60))
def test_adding_and_counting_agree(start: date, days: int) -> None:
    due = add_working_days(start, days)
    assert working_days_between(start, due) == days
    assert days == 0 or is_working_day(due)
    assert due - start <= timedelta(days=2 * days + 14)
    if days:
        assert working_days_before(due, days) <= start or not is_working_day(start)
