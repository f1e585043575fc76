"""Kyrgyzstan's regions, districts, towns and ayil aimaks as shipped in
data/kyrgyzstan_places.csv (its source and licence: data/README.md), read once as Python values."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PLACES_FILE = Path(__file__).parent / "data" / "kyrgyzstan_places.csv"
KINDS = ("region", "district", "town", "aimak")


@dataclass(frozen=True)
class Unit:
    """One line of the file: a region, a district, a town or an ayil aimak (a town and an aimak
    are municipalities of their own; an aimak always lies in a district)."""

    kind: str
    key: str
    soate: str | None
    region: str | None  # a district's or town's region key
    district: str | None  # a town's district key; none for a city of regional significance
    name_ky: str
    name_ru: str
    name_en: str
    ky_checked: bool = True  # False: a Kyrgyz name made from the Russian, to be read once

    def names(self) -> dict[str, str]:
        return {"name_ky": self.name_ky, "name_ru": self.name_ru, "name_en": self.name_en}


@cache
def shipped_units() -> tuple[Unit, ...]:
    with PLACES_FILE.open(encoding="utf-8", newline="") as handle:
        return tuple(
            Unit(
                kind=row["kind"],
                key=row["key"],
                soate=row["soate"] or None,
                region=row["region"] or None,
                district=row["district"] or None,
                name_ky=row["name_ky"],
                name_ru=row["name_ru"],
                name_en=row["name_en"],
                ky_checked=row["ky_checked"] != "no",
            )
            for row in csv.DictReader(handle)
        )


def shipped(kind: str) -> list[Unit]:
    """The file's units of one kind, in the file's order."""
    return [unit for unit in shipped_units() if unit.kind == kind]


def district_key(name: str) -> str:
    """A district named as domain.yaml names it ("Ak-Talaa") -> its key in the file."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")
