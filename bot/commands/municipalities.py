"""The operator's municipalities (docs/architecture.md §4): `civicbot municipality list|add|import`.

A municipality has a key (naryn_city), a short SMS code (101), names in ky/ru/en, a region
and, if its charter sets one, the number of signatures a local initiative needs. `import`
reads the same fields from a CSV file, one municipality a line, and can be run again: a key
already there is updated where the file differs, a new key is added, and a line that cannot
be taken is reported with its reason while the others are kept.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands.admin import UsageError
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from storage import queries
from storage.domain import LANGUAGES, is_municipality_key
from storage.models import Municipality, Region
from storage.place_list import district_key

# The columns of an import file (the first line names them; their order is free).
COLUMNS = ("key", "code", "region", "name_ky", "name_ru", "name_en", "district", "threshold")
REQUIRED = ("key", "region", "name_ky", "name_ru", "name_en")


@dataclass
class Row:
    """One municipality as the operator gave it."""

    key: str
    region: str
    names: dict[str, str]
    code: int | None = None
    district: str | None = None
    threshold: int | None = None


@dataclass
class Report:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "line 4 (key): why"

    def summary(self) -> str:
        return (
            f"added {len(self.added)}, changed {len(self.changed)}, "
            f"unchanged {len(self.unchanged)}, refused {len(self.refused)}"
        )


def row_from(values: Mapping[str, str | None]) -> Row:
    """A row from text fields; UsageError with the reason when one is wrong."""
    text = {name: (values.get(name) or "").strip() for name in COLUMNS}
    missing = [name for name in REQUIRED if not text[name]]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    key = text["key"].lower()
    if not is_municipality_key(key):
        raise UsageError(f"the key {key!r} may have only a-z, 0-9 and _")
    return Row(
        key=key,
        region=text["region"].lower(),
        names={language: text[f"name_{language}"] for language in LANGUAGES},
        code=_number(text["code"], "code", 1, 9999),
        district=text["district"] or None,
        threshold=_number(text["threshold"], "threshold", 1, 10_000_000),
    )


def _number(text: str, name: str, low: int, high: int) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise UsageError(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


async def put(session: AsyncSession, row: Row) -> str:
    """Add the municipality or bring it up to date: "added", "changed" or "unchanged"."""
    region = await queries.region_by_key(session, row.region)
    if region is None:
        raise UsageError(f"unknown region {row.region!r} (see domain.yaml: regions)")
    existing = await queries.municipality_by_key(session, row.key)
    district = await _district(session, row, region)
    if row.code is not None:
        holder = await session.scalar(select(Municipality).where(Municipality.code == row.code))
        if holder is not None and holder.key != row.key:
            raise UsageError(f"the code {row.code} is {holder.key}'s already")
    if existing is None:
        code = row.code or await _next_code(session)
        session.add(
            Municipality(
                key=row.key, code=code, region_id=region.id, district_id=district, **_fields(row)
            )
        )
        await session.flush()
        return "added"
    wanted = {"region_id": region.id, **_fields(row)}
    if district is not None:  # a district the text does not name is left as it was
        wanted["district_id"] = district
    if row.code is not None:
        wanted["code"] = row.code
    differs = {name: value for name, value in wanted.items() if getattr(existing, name) != value}
    for name, value in differs.items():
        setattr(existing, name, value)
    await session.flush()
    return "changed" if differs else "unchanged"


async def _district(session: AsyncSession, row: Row, region: Region) -> int | None:
    """The district the row names, by its key (ak_talaa) or as domain.yaml writes it
    (Ak-Talaa), if it is one of the region's; else none (the text is kept as it is)."""
    if not row.district:
        return None
    district = await queries.district_by_key(session, district_key(row.district))
    return district.id if district is not None and district.region_id == region.id else None


def _fields(row: Row) -> dict[str, object]:
    return {
        **{f"name_{language}": name for language, name in row.names.items()},
        "district": row.district,
        "initiative_threshold": row.threshold,
    }


async def _next_code(session: AsyncSession) -> int:
    highest = await session.scalar(select(func.max(Municipality.code)))
    return (highest or 100) + 1


async def add(settings: Settings, row: Row, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            if await queries.municipality_by_key(session, row.key) is not None:
                raise UsageError(f"{row.key} exists already (import a file to change it)")
            await put(session, row)
            added = await queries.municipality_by_key(session, row.key)
            assert added is not None
        print(f"added {added.key}: code {added.code}, {added.region.key}", file=out)
    finally:
        await db.close()
    return 0


async def import_file(settings: Settings, path: Path, out: TextIO) -> int:
    """Exit 0 when every line was taken, 2 when any was refused (the others are kept)."""
    lines = _read(path)
    report = Report()
    db = await prepare_database(settings)
    try:
        async with db.session() as session, session.begin():
            for number, values in lines:
                where = f"line {number} ({(values.get('key') or '?').strip()})"
                try:
                    async with session.begin_nested():
                        result = await put(session, row_from(values))
                except UsageError as error:
                    report.refused.append(f"{where}: {error}")
                    continue
                getattr(report, result).append(where)
    finally:
        await db.close()
    print(f"{path.name}: {report.summary()}", file=out)
    for name in ("added", "changed"):
        for where in getattr(report, name):
            print(f"  {name}: {where}", file=out)
    for reason in report.refused:
        print(f"  refused: {reason}", file=out)
    return 2 if report.refused else 0


def _read(path: Path) -> Iterable[tuple[int, dict[str, str | None]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            unknown = set(reader.fieldnames or ()) - set(COLUMNS)
            if not reader.fieldnames or unknown:
                raise UsageError(
                    f"{path.name}: the first line must name columns of {', '.join(COLUMNS)}"
                    + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
                )
            return [(number, dict(values)) for number, values in enumerate(reader, start=2)]
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path.name} is not UTF-8 text") from None


async def list_all(settings: Settings, out: TextIO) -> int:
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            districts = {d.id: d.key for d in await queries.all_districts(session)}
            for m in await queries.all_municipalities(session):
                district = districts.get(m.district_id or 0, "")
                print(f"{m.code}\t{m.key}\t{m.region.key}\t{m.name_ky}\t{district}", file=out)
    finally:
        await db.close()
    return 0
