"""Facts from the field (domain.yaml, a copy of shared/data/domain.yaml) as Python values."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

DOMAIN_FILE = Path(__file__).parent / "domain.yaml"
LANGUAGES = ("ky", "ru", "en")
# The first municipality seeded gets this short code; the rest follow in file order.
FIRST_MUNICIPALITY_CODE = 101


@cache
def facts() -> dict[str, Any]:
    with DOMAIN_FILE.open(encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle))


def wish_categories() -> list[str]:
    return [entry["key"] for entry in facts()["wish_categories"]]


def wish_kinds() -> list[str]:
    return [entry["key"] for entry in facts()["wish_kinds"]]
