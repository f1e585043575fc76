"""Facts from the field (domain.yaml, a copy of shared/data/domain.yaml) as Python values."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

DOMAIN_FILE = Path(__file__).parent / "domain.yaml"
CATEGORY_WORDS_FILE = Path(__file__).parent / "category_words.yaml"
LANGUAGES = ("ky", "ru", "en")
# The first municipality seeded gets this short code; the rest follow in file order.
FIRST_MUNICIPALITY_CODE = 101
# A municipality's key goes into links (m-KEY) and SMS: lower-case letters, digits and _, and
# no longer than its column.
KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
KEY_LENGTH = 64
# The statuses that answer a wish or an appeal on its merits: the first of them stops the
# legal clock of both (an interim "accepted" or "in progress" does not; docs/decisions.md).
FINAL_STATUSES = frozenset({"done", "declined"})
DUPLICATE = "duplicate"  # set with the wish it repeats, not by a status button


def is_municipality_key(text: str) -> bool:
    """Whether a municipality could have this key (as written: lower case)."""
    return 0 < len(text) <= KEY_LENGTH and set(text) <= KEY_CHARACTERS


@cache
def facts() -> dict[str, Any]:
    with DOMAIN_FILE.open(encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle))


def wish_categories() -> list[str]:
    return [entry["key"] for entry in facts()["wish_categories"]]


def wish_category_codes() -> dict[int, str]:
    """The number an SMS names each topic by (ӨЗГӨРТ 4 <text>) -> the topic's key."""
    return {int(entry["code"]): entry["key"] for entry in facts()["wish_categories"]}


@cache
def category_words() -> dict[str, dict[str, list[str]]]:
    """Topic key -> language -> the words that name it (category_words.yaml)."""
    with CATEGORY_WORDS_FILE.open(encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle))


def wish_kinds() -> list[str]:
    return [entry["key"] for entry in facts()["wish_kinds"]]


def bribe_services() -> list[dict[str, Any]]:
    """The ten service types, in the order residents see them (1–9, then 0 "other")."""
    return list(facts()["bribe_service_types"])


def bribe_service_codes() -> list[int]:
    return [int(entry["code"]) for entry in bribe_services()]


def initiative_law() -> dict[str, Any]:
    """Thresholds and the signing window of the people's legislative initiative law."""
    return dict(facts()["initiative_law"])
