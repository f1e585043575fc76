"""Exports for operators and officials: spreadsheet-safe CSV or XLSX, no residents'
identities (bribe reports have none to export)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.runtime.i18n import Catalogues
from handlers.answering import shown_status
from handlers.types import Text
from storage.domain import bribe_services
from storage.models import BribeReport, Wish

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
    "campaign",
    "answer",
    "answered",
    "status_changed",
    "duplicate_of",
    "hidden",
    "followup",
    "photos",  # how many (the files: bot/web/photo_links.py, docs/operations.md)
    "latitude",
    "longitude",
    "public_media",  # staff made its photos and place public
)
BRIBE_COLUMNS = (
    "reference",
    "created_on",
    "month",
    "municipality",
    "region",
    "service",
    "service_key",
    "outcome",
    "amount",
    "channel",
    "text",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def wish_rows(
    wishes: Sequence[Wish], timezone: str, photos: Mapping[int, int] | None = None
) -> Iterable[Sequence[object]]:
    """Rows of WISH_COLUMNS. A duplicate names the wish it repeats by reference: that one
    is in the same municipality, so in the same export."""
    zone = ZoneInfo(timezone)
    duplicates = {wish.id: wish.reference for wish in wishes}
    photos = photos or {}
    for wish in wishes:
        yield (
            wish.reference,
            wish.created_at.astimezone(zone).isoformat(timespec="seconds"),
            # An SMS wish still waiting for its place has none yet: the cells stay empty.
            wish.municipality.key if wish.municipality else "",
            wish.municipality.region.key if wish.municipality else "",
            wish.kind,
            wish.category,
            wish.text,
            wish.channel,
            wish.status,
            wish.campaign.code if wish.campaign else "",
            wish.answer or "",
            _moment(wish.answered_at, zone),
            _moment(wish.status_at, zone),
            duplicates.get(wish.duplicate_of or 0, ""),
            "yes" if wish.hidden else "",
            wish.followup or "",  # the resident's "was it really done?": yes | no
            photos.get(wish.id, 0),
            "" if wish.latitude is None else wish.latitude,
            "" if wish.longitude is None else wish.longitude,
            "yes" if wish.media_public else "",
        )


def _moment(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment else ""


# The staff's table in the digest: what a person reads, in their language, then the keys
# for whoever sorts or merges tables by machine (headers in English, values as stored).
STAFF_COLUMNS = (
    "reference",
    "created",
    "kind",
    "category",
    "text",
    "channel",
    "status",
    "photos",  # links signed for staff (bot/web/photo_links.py), space-separated
    "place",  # "latitude, longitude" of the problem, when the resident showed it
)
KEY_COLUMNS = ("kind_key", "category_key", "status_key", "municipality_key")


def staff_columns(catalogues: Catalogues, language: str) -> tuple[str, ...]:
    named = (catalogues.text(language, Text(f"column.{column}")) for column in STAFF_COLUMNS)
    return (*named, *KEY_COLUMNS)


def staff_wish_rows(
    wishes: Iterable[Wish],
    timezone: str,
    catalogues: Catalogues,
    language: str,
    photos: Mapping[int, Sequence[str]] | None = None,
) -> Iterable[Sequence[object]]:
    zone = ZoneInfo(timezone)
    photos = photos or {}

    def named(prefix: str, key: str) -> str:
        text = Text(f"{prefix}.{key}")
        return catalogues.text(language, text) if catalogues.has(language, text.key) else key

    for wish in wishes:
        yield (
            wish.reference,
            wish.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            named("kind", wish.kind),
            named("category", wish.category),
            wish.text,
            named("channel", wish.channel),
            named("status", shown_status(wish)),  # "received" until staff answer
            " ".join(photos.get(wish.id, ())),
            _place(wish),
            wish.kind,
            wish.category,
            wish.status,
            wish.municipality.key if wish.municipality else "",
        )


def _place(wish: Wish) -> str:
    if wish.latitude is None or wish.longitude is None:
        return ""
    return f"{wish.latitude:.3f}, {wish.longitude:.3f}"


def staff_csv(
    wishes: Iterable[Wish],
    timezone: str,
    catalogues: Catalogues,
    language: str,
    photos: Mapping[int, Sequence[str]] | None = None,
) -> bytes:
    """Wishes for officials in their language as a CSV file, spreadsheet-safe, with a BOM so
    that Excel reads UTF-8 (the digest's table, a campaign's cards); `photos`: each wish's
    photo links."""
    buffer = io.StringIO("\ufeff")
    buffer.seek(0, io.SEEK_END)
    rows = staff_wish_rows(wishes, timezone, catalogues, language, photos)
    write_csv(buffer, staff_columns(catalogues, language), rows)
    return buffer.getvalue().encode("utf-8")


def bribe_rows(reports: Iterable[BribeReport]) -> Iterable[Sequence[object]]:
    keys = {int(entry["code"]): entry["key"] for entry in bribe_services()}
    for report in reports:
        yield (
            report.reference,
            report.created_on.isoformat(),
            report.month,
            report.municipality.key,
            report.municipality.region.key,
            report.service,
            keys.get(report.service, ""),
            report.outcome,
            report.amount,
            report.channel,
            report.text,
        )


def write_xlsx(path: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    from openpyxl import Workbook  # ~20 MB: loaded only for an XLSX export

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(list(header))
    count = 0
    for row in rows:
        # Numbers stay numbers; every text goes through safe_cell, as in CSV.
        sheet.append([v if isinstance(v, int | float) else safe_cell(v) for v in row])
        count += 1
    workbook.save(path)
    return count


def write_csv(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    writer = csv.writer(out)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count


def write_table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    fmt: str,
    output: str | None,
    out: TextIO,
) -> int:
    """Write an export as the command line asked: XLSX to `output`, CSV to `output` or `out`."""
    if fmt == "xlsx":
        assert output is not None
        return write_xlsx(output, header, rows)
    if output:
        with open(output, "w", newline="", encoding="utf-8") as handle:
            return write_csv(handle, header, rows)
    return write_csv(out, header, rows)
