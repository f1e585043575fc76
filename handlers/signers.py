"""What a signer gives, checked: the PIN, the full name and the address (docs/architecture.md §9).

A Kyrgyz PIN has 14 digits; the first is 1 (women) or 2 (men) and the next eight are usually
the date of birth, DDMMYYYY. There is no public check digit, so a PIN whose date part is not
a real date is taken with a warning — the registry holds such PINs — and the verification
group decides. Only what cannot be a PIN is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from handlers import validation
from handlers.pseudonyms import Pseudonyms
from handlers.types import Text

PIN_LENGTH = 14
ADULT_AGE = 18  # voters sign initiatives
OLDEST_YEAR = 1900
NAME_LIMIT = 100
ADDRESS_PART_LIMIT = 100
ADDRESS_LIMIT = 300

# People write PINs in groups: 2 0101 1990 00123, 20101-1990-00123.
_PIN_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015.]+")
_NAME_WORD = re.compile(r"^[^\W\d_]+(?:['’\-][^\W\d_]+)*\.?$")
# Kyrgyz patronymic particles stay in lower case: Асанов Бакыт Сапар уулу.
_PARTICLES = {"уулу", "кызы", "uulu", "kyzy", "оглы"}
# Latin letters that look like Cyrillic ones, typed inside a Cyrillic word on mixed keyboards.
_LOOK_ALIKES = str.maketrans("aeopcxykmthb", "аеорсхукмтнв")


@dataclass(frozen=True)
class Pin:
    digits: str
    birth_date: date | None  # None when positions 2–9 are not a plausible date of birth

    @property
    def odd_date(self) -> bool:
        return self.birth_date is None


def parse_pin(text: str, today: date) -> tuple[Pin | None, Text | None]:
    """The PIN in `text` (spaces and dashes dropped), or why it cannot be one."""
    digits = _PIN_SEPARATORS.sub("", text.strip())
    if not digits:
        return None, Text("error.empty_text")
    if not re.fullmatch(r"[0-9]+", digits):
        return None, Text("pin.not_digits")
    if len(digits) != PIN_LENGTH:
        return None, Text("pin.length", {"length": len(digits), "expected": PIN_LENGTH})
    if digits[0] not in "12":
        return None, Text("pin.first_digit")
    return Pin(digits, _birth_date(digits, today)), None


def _birth_date(digits: str, today: date) -> date | None:
    try:
        born = date(int(digits[5:9]), int(digits[3:5]), int(digits[1:3]))
    except ValueError:
        return None
    return born if born.year >= OLDEST_YEAR and born <= today else None


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def adult_problem(pin: Pin, today: date) -> Text | None:
    """Why this signer cannot sign by age, where the PIN tells the date of birth."""
    if pin.birth_date is not None and age_on(pin.birth_date, today) < ADULT_AGE:
        return Text("pin.under_age", {"age": ADULT_AGE})
    return None


def check_pin(text: str, today: date) -> tuple[Pin | None, Text | None]:
    """A PIN that may sign: one that can be a PIN, of an adult where its date tells."""
    pin, problem = parse_pin(text, today)
    if pin is not None and problem is None:
        problem = adult_problem(pin, today)
    return (pin, None) if problem is None else (None, problem)


def parse_name(text: str) -> tuple[str, Text | None]:
    """A full name in one spelling: words capitalised, particles in lower case."""
    words = text.split()
    if not words:
        return "", Text("error.empty_text")
    if not all(_NAME_WORD.match(word) for word in words):
        return "", Text("name.letters")
    if len(words) < 2:
        return "", Text("name.one_word")
    name = " ".join(_capitalise(word) for word in words)
    if len(name) > NAME_LIMIT:
        return "", Text("error.too_long", {"limit": NAME_LIMIT, "length": len(name)})
    return name, None


def _capitalise(word: str) -> str:
    if word.lower() in _PARTICLES:
        return word.lower()
    return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))


def comparable_name(name: str) -> str:
    """The form two spellings of one name share: case folded, and Latin look-alikes inside
    Cyrillic words (a Latin "а" typed by a mixed keyboard) made Cyrillic."""
    words = []
    for word in name.casefold().replace("ё", "е").split():
        cyrillic = any("\u0400" <= char <= "\u04ff" for char in word)
        words.append(word.translate(_LOOK_ALIKES) if cyrillic else word)
    return " ".join(words)


def check_address_part(text: str) -> tuple[str, Text | None]:
    return check_address(text, ADDRESS_PART_LIMIT)


def check_address(text: str, limit: int = ADDRESS_LIMIT) -> tuple[str, Text | None]:
    address, problem = validation.check_text(" ".join(text.split()), limit)
    if problem is not None and problem.key == "error.empty_text":
        return address, Text("sign.address_empty")  # short enough to go before the prompt
    return address, problem


def pin_keys(pseudonyms: Pseudonyms, initiative_code: str, pin: str) -> tuple[str, ...]:
    """Keyed hashes of a PIN for one initiative (finds a PIN signing twice), newest key first."""
    return pseudonyms.every("pin", initiative_code, pin)


def signer_keys(
    pseudonyms: Pseudonyms, initiative_code: str, pin: str, name: str
) -> tuple[str, ...]:
    """Keyed hashes of PIN and name (the same person signing again), newest key first."""
    return pseudonyms.every("signer", initiative_code, pin, comparable_name(name))
