"""Exports for operators and officials: spreadsheet-safe CSV, no residents' identities."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import TextIO
from zoneinfo import ZoneInfo

from storage.models import Wish

WISH_COLUMNS = (
    "reference",
    "created",
    "municipality",
    "region",
    "kind",
    "category",
    "text",
    "channel",
    "status",
    "campaign_id",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def wish_rows(wishes: Iterable[Wish], timezone: str) -> Iterable[Sequence[object]]:
    zone = ZoneInfo(timezone)
    for wish in wishes:
        yield (
            wish.reference,
            wish.created_at.astimezone(zone).isoformat(timespec="seconds"),
            wish.municipality.key,
            wish.municipality.region.key,
            wish.kind,
            wish.category,
            wish.text,
            wish.channel,
            wish.status,
            wish.campaign_id,
        )


def write_csv(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    writer = csv.writer(out)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count
