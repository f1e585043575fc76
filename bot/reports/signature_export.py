"""The signature list for an initiative's verification group, with a hash chain.

Each row ends with a SHA-256 over its own cells and the previous row's hash (the first row
starts from a hash of the initiative's code), and a last line gives the chain head and the
number of rows. Removing, reordering or editing any row breaks every hash after it, so
`civicbot verify-export FILE` finds it; give the verification group the chain head
separately (the export prints it) and not even a rewritten chain passes.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.reports.export import safe_cell
from handlers.sealing import Sealer
from storage.models import Initiative, Signature

SIGNATURE_COLUMNS = (
    "n",
    "signed_on",
    "status",
    "channel",
    "full_name",
    "pin",
    "address",
    "pin_note",
    "row_hash",
)
HEAD_MARK = "#chain-head"
VERSION = "civicbot-signatures-v1"


def genesis(code: str) -> str:
    return hashlib.sha256(f"{VERSION}\x1f{code}".encode()).hexdigest()


def row_hash(previous: str, cells: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join((previous, *cells)).encode()).hexdigest()


def chained_rows(
    initiative: Initiative, signatures: Iterable[Signature], sealer: Sealer
) -> Iterator[list[str]]:
    """The rows of the list, each with its hash, then the chain-head line."""
    previous, count = genesis(initiative.code), 0
    for count, signature in enumerate(signatures, start=1):
        signer = sealer.open(signature.sealed) if signature.sealed else {}
        cells = [
            safe_cell(value)
            for value in (
                count,
                signature.signed_on.isoformat(),
                signature.status,
                signature.channel,
                signer.get("name", ""),
                signer.get("pin", ""),
                signer.get("address", ""),
                signature.pin_note or "",
            )
        ]
        previous = row_hash(previous, cells)
        yield [*cells, previous]
    yield [HEAD_MARK, initiative.code, str(count), previous]


def head_of(rows: Sequence[Sequence[str]]) -> str:
    return rows[-1][3]


# --- checking a file -------------------------------------------------------------------------


class ChainBroken(Exception):
    """The file is not the list as exported; the message says where."""


@dataclass(frozen=True)
class Verified:
    code: str
    rows: int
    head: str


def verify(rows: Sequence[Sequence[str]], expected_head: str | None = None) -> Verified:
    if not rows or list(rows[0][: len(SIGNATURE_COLUMNS)]) != list(SIGNATURE_COLUMNS):
        raise ChainBroken("not a signature export: the header row is missing or changed")
    body, tail = rows[1:-1], rows[-1] if len(rows) > 1 else []
    if len(tail) < 4 or tail[0] != HEAD_MARK:
        raise ChainBroken("the chain-head line at the end is missing (the file was cut short?)")
    code, count, head = tail[1], tail[2], tail[3]
    previous = genesis(code)
    for number, row in enumerate(body, start=1):
        cells, stored = list(row[: len(SIGNATURE_COLUMNS) - 1]), row[len(SIGNATURE_COLUMNS) - 1]
        previous = row_hash(previous, cells)
        if stored != previous:
            raise ChainBroken(
                f"row {number}: its hash does not match "
                "(this row was changed, or one before it was removed or moved)"
            )
    if str(len(body)) != count:
        raise ChainBroken(f"the chain head counts {count} rows, the file has {len(body)}")
    if head != previous:
        raise ChainBroken("the chain head does not match the last row (rows removed at the end?)")
    if expected_head is not None and head != expected_head:
        raise ChainBroken("the chain head is not the one given: the whole list was rewritten")
    return Verified(code, len(body), head)


def read_rows(path: Path) -> list[list[str]]:
    """The cells of a CSV or XLSX export, as text."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook  # only when an XLSX list is verified

        workbook = load_workbook(path, read_only=True)
        try:
            sheet = workbook.worksheets[0]
            return [
                _trimmed(["" if v is None else str(v) for v in row])
                for row in sheet.iter_rows(values_only=True)
            ]
        finally:
            workbook.close()
    with path.open(encoding="utf-8", newline="") as handle:
        return [list(row) for row in csv.reader(handle)]


def _trimmed(cells: list[str]) -> list[str]:
    """A spreadsheet row without the empty cells a shorter line gets padded with."""
    while cells and cells[-1] == "":
        cells.pop()
    return cells
