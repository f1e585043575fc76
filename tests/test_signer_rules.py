"""The rules for what a signer gives (PIN, name) and when an initiative can be signed,
without a server."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from handlers import initiatives, signers
from handlers.signatures import normalise_code
from handlers.types import Text

TODAY = dt.date(2026, 11, 25)


@pytest.mark.parametrize(
    "text,digits,born",
    [
        ("21505198500123", "21505198500123", dt.date(1985, 5, 15)),
        ("2 1505 1985 00123", "21505198500123", dt.date(1985, 5, 15)),
        ("2-1505-1985-00123", "21505198500123", dt.date(1985, 5, 15)),
        ("  10101200000001 ", "10101200000001", dt.date(2000, 1, 1)),
        ("23113198700123", "23113198700123", None),  # 31.13.1987: kept, with a warning
        ("22902199900123", "22902199900123", None),  # 29.02.1999 never was
        ("20101230000123", "20101230000123", None),  # born in 2300: not a birth date
        ("20101180000123", "20101180000123", None),  # 1800: not one either
    ],
)
def test_pins_that_are_taken(text: str, digits: str, born: dt.date | None) -> None:
    pin, problem = signers.parse_pin(text, TODAY)
    assert problem is None and pin is not None
    assert (pin.digits, pin.birth_date, pin.odd_date) == (digits, born, born is None)


@pytest.mark.parametrize(
    "text,problem",
    [
        ("", Text("error.empty_text")),
        ("2150519850012", Text("pin.length", {"length": 13, "expected": 14})),
        ("215051985001234", Text("pin.length", {"length": 15, "expected": 14})),
        ("31505198500123", Text("pin.first_digit")),
        ("01505198500123", Text("pin.first_digit")),
        ("2150519850012З", Text("pin.not_digits")),  # a Cyrillic З for a 3
        ("２1505198500123", Text("pin.not_digits")),  # a full-width digit
    ],
)
def test_pins_that_are_refused(text: str, problem: Text) -> None:
    assert signers.parse_pin(text, TODAY) == (None, problem)


def test_adults_only_where_the_date_tells() -> None:
    eighteen_today = f"2{TODAY:%d%m}{TODAY.year - 18}00001"
    a_day_short = f"2{TODAY + dt.timedelta(days=1):%d%m}{TODAY.year - 18}00001"
    assert signers.check_pin(eighteen_today, TODAY)[1] is None
    assert signers.check_pin(a_day_short, TODAY) == (None, Text("pin.under_age", {"age": 18}))
    assert signers.check_pin("23113201500123", TODAY)[1] is None  # no readable date: taken


@pytest.mark.parametrize(
    "text,name",
    [
        ("асанов бакыт", "Асанов Бакыт"),
        ("  АСАНОВ   БАКЫТ  САПАР УУЛУ ", "Асанов Бакыт Сапар уулу"),
        ("asanov bakyt", "Asanov Bakyt"),
        ("Абдыкадыр-Ата Гүлнара", "Абдыкадыр-Ата Гүлнара"),
        ("o'brien mary", "O'brien Mary"),
        ("Асанов Б.", "Асанов Б."),
    ],
)
def test_names_are_normalised(text: str, name: str) -> None:
    assert signers.parse_name(text) == (name, None)


@pytest.mark.parametrize(
    "text,key",
    [("Бакыт", "name.one_word"), ("Асанов 2", "name.letters"), ("Асанов, Бакыт", "name.letters")],
)
def test_names_that_are_refused(text: str, key: str) -> None:
    assert signers.parse_name(text)[1] == Text(key)


def test_comparable_names() -> None:
    same = signers.comparable_name
    assert same("Асанов Бакыт") == same("АСАНОВ бакыт") == same("Асaнов Бакыт")  # Latin a
    assert same("Asanov Bakyt") != same("Асанов Бакыт")  # another script is another spelling
    assert same("Сёмин Пётр") == same("Семин Петр")


def test_codes_typed_on_a_cyrillic_keyboard() -> None:
    assert normalise_code(" jоl ") == "JOL"  # a Cyrillic о
    assert normalise_code("КОМ") == "KOM"


def initiative(**fields: Any) -> Any:
    values = {"opens_on": TODAY, "closes_on": TODAY, "closed_on": None}
    return SimpleNamespace(**{**values, **fields})


@pytest.mark.parametrize(
    "fields,state",
    [
        ({"opens_on": TODAY + dt.timedelta(days=1)}, initiatives.NOT_YET),
        ({"opens_on": TODAY}, initiatives.OPEN),
        ({"opens_on": TODAY - dt.timedelta(days=9)}, initiatives.OPEN),
        (
            {"closes_on": TODAY - dt.timedelta(days=1), "opens_on": TODAY - dt.timedelta(days=9)},
            initiatives.CLOSED,
        ),
        ({"closed_on": TODAY}, initiatives.CLOSED),
    ],
)
def test_window_states(fields: dict[str, Any], state: str) -> None:
    assert initiatives.state(initiative(**fields), TODAY) == state


def test_days_left_counts_today() -> None:
    assert initiatives.days_left(initiative(closes_on=TODAY), TODAY) == 1
    assert initiatives.days_left(initiative(closes_on=TODAY - dt.timedelta(days=3)), TODAY) == 0


@pytest.mark.parametrize(
    "published,opens,closes",
    [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 31), dt.date(2026, 4, 1)),
        (dt.date(2026, 11, 30), dt.date(2026, 12, 30), dt.date(2027, 2, 28)),
        (dt.date(2027, 11, 30), dt.date(2027, 12, 30), dt.date(2028, 2, 29)),
    ],
)
def test_the_window_the_law_sets(published: dt.date, opens: dt.date, closes: dt.date) -> None:
    assert initiatives.default_window(published) == (opens, closes)


def test_thresholds_come_from_the_law() -> None:
    assert initiatives.default_threshold("law") == 10_000
    assert initiatives.default_threshold("constitution") == 300_000
    assert initiatives.default_threshold("local") is None
