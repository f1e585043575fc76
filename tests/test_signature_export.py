"""The signature list: export round trip in CSV and XLSX, and `civicbot verify-export`
finding a deleted row, an edited cell, a cut-off end and a rewritten chain; plus the
initiative and invite commands' one-line errors."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.reports.signature_export import HEAD_MARK, SIGNATURE_COLUMNS, genesis, row_hash
from tests.conftest import Civicbot, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.initiatives import open_initiative, pin, sign_on_telegram

SIGNERS = [
    ("Асанов Бакыт", pin(dt.date(1980, 1, 1))),
    ("Бекова Айгүл", pin(dt.date(1990, 2, 2), first=1)),
    ("Токтогулов Нурлан", pin(dt.date(1975, 3, 3))),
]


@pytest.fixture
async def signed(start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot) -> Civicbot:
    """An initiative with three signatures (one of them with a formula-like address)."""
    assert (await civicbot(*open_initiative("LIST")))[0] == 0
    runtime = await start_bot("webhook")
    for number, (name, digits) in enumerate(SIGNERS):
        signer = resident_of(runtime, telegram, "webhook", 8701 + number, "en")
        address = ("=cmd|' /C calc'!A0", "Lenin", "1") if number == 1 else ("Chaek", "Lenin", "2")
        await sign_on_telegram(signer, "en", "LIST", name, digits, address)
    return civicbot


async def export(civicbot: Civicbot, path: Path, fmt: str) -> str:
    rc, out, err = await civicbot(
        "export", "signatures", "--initiative", "list", "--format", fmt, "--output", str(path)
    )
    assert rc == 0 and out == "", err
    head = re.search(r"chain head ([0-9a-f]{64})", err)
    assert head is not None, err
    return head.group(1)


def read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


async def test_csv_round_trip_and_tampering(signed: Civicbot, tmp_path: Path) -> None:
    original = tmp_path / "list.csv"
    head = await export(signed, original, "csv")
    rows = read(original)
    assert rows[0] == list(SIGNATURE_COLUMNS)
    assert [(r[0], r[2], r[4], r[5]) for r in rows[1:-1]] == [
        (str(n), "counted", name, digits) for n, (name, digits) in enumerate(SIGNERS, start=1)
    ]
    assert rows[2][6].startswith("'=cmd")  # safe to open in a spreadsheet
    assert rows[-1] == [HEAD_MARK, "LIST", "3", head]
    # Anyone can recompute the chain from the file alone.
    previous = genesis("LIST")
    for row in rows[1:-1]:
        previous = row_hash(previous, row[:-1])
        assert row[-1] == previous

    rc, out, _ = await signed("verify-export", str(original), "--head", head)
    assert rc == 0 and "intact" in out and "3 rows" in out

    broken = {
        "deleted": [rows[0], rows[1], rows[3], rows[4]],
        "edited": [rows[0], rows[1], [*rows[2][:4], "Бекова Айгуль", *rows[2][5:]], *rows[3:]],
        "moved": [rows[0], rows[2], rows[1], rows[3], rows[4]],
        "cut": [*rows[:-2], rows[-1]],
        "no head": rows[:-1],
    }
    for what, changed in broken.items():
        path = tmp_path / f"{what}.csv"
        write(path, changed)
        rc, out, err = await signed("verify-export", str(path))
        assert rc == 1 and "NOT intact" in err and out == "", what


async def test_a_rewritten_chain_fails_against_the_head_given(
    signed: Civicbot, tmp_path: Path
) -> None:
    original = tmp_path / "list.csv"
    head = await export(signed, original, "csv")
    rows = read(original)
    # A forger drops the second signer and recomputes every hash: the file checks out alone…
    kept = [rows[1], rows[3]]
    previous, forged = genesis("LIST"), [rows[0]]
    for number, row in enumerate(kept, start=1):
        cells = [str(number), *row[1:-1]]
        previous = row_hash(previous, cells)
        forged.append([*cells, previous])
    forged.append([HEAD_MARK, "LIST", "2", previous])
    path = tmp_path / "forged.csv"
    write(path, forged)
    assert (await signed("verify-export", str(path)))[0] == 0
    # …but not against the head the operator handed over with the list.
    rc, _, err = await signed("verify-export", str(path), "--head", head)
    assert rc == 1 and "rewritten" in err


async def test_xlsx_round_trip(signed: Civicbot, tmp_path: Path) -> None:
    original = tmp_path / "list.xlsx"
    head = await export(signed, original, "xlsx")
    rc, out, _ = await signed("verify-export", str(original), "--head", head)
    assert rc == 0, out
    workbook = load_workbook(original)
    sheet = workbook.worksheets[0]
    assert sheet.cell(row=2, column=6).value == SIGNERS[0][1]  # the PIN stays text
    sheet.cell(row=3, column=5).value = "Бекова Айгуль"
    workbook.save(tmp_path / "edited.xlsx")
    rc, _, err = await signed("verify-export", str(tmp_path / "edited.xlsx"))
    assert rc == 1 and "row 2" in err


ADD = ["initiative", "add", "A1", "--title", "t", "--published", "2026-01-01"]
LOCAL = [*ADD, "--kind", "local"]


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["export", "signatures"], "needs --initiative CODE"),
        (["export", "signatures", "--initiative", "NOPE"], "unknown initiative 'NOPE'"),
        (["export", "signatures", "--initiative", "X", "--format", "xlsx"], "unknown initiative"),
        (["verify-export", "/nonexistent/list.csv"], "no such file"),
        (["initiative", "add", "A1", "--kind", "law", "--published", "2026-01-01"], "give a title"),
        ([*ADD[:-1], "01.01.2026", "--kind", "law"], "--published must be a date"),
        (["initiative", "add", "1A", *ADD[3:], "--kind", "law"], "the code must"),
        ([*LOCAL, "--municipality", "chaek"], "needs --threshold"),
        ([*LOCAL, "--threshold", "5"], "--municipality goes with --kind local"),
        (
            [*LOCAL, "--threshold", "5", "--municipality", "atlantis"],
            "unknown municipality 'atlantis'",
        ),
        (
            [*ADD, "--kind", "law", "--opens", "2026-05-01", "--closes", "2026-04-01"],
            "must close on or after",
        ),
        (["initiative", "close", "NOPE"], "unknown initiative 'NOPE'"),
        (["initiative", "edit", "NOPE", "--threshold", "3"], "unknown initiative 'NOPE'"),
        (["invite", "--role", "initiator"], "needs --initiative CODE"),
        (["invite", "--role", "deputy"], "needs --municipality KEY"),
        (["invite", "--role", "mayor", "--municipality", "chaek"], "invalid choice"),
        (["invite", "--role", "staff", "--municipality", "atlantis"], "unknown municipality"),
    ],
)
async def test_one_line_errors(civicbot: Civicbot, arguments: list[str], message: str) -> None:
    rc, out, err = await civicbot(*arguments)
    assert rc == 2 and out == "", err
    assert message in err and err.count("\n") == 1, err


async def test_initiative_add_defaults_edit_list_and_close(civicbot: Civicbot) -> None:
    rc, out, _ = await civicbot(
        "initiative",
        "add",
        "suu",
        "--kind",
        "constitution",
        "--published",
        "2026-11-30",
        "--title",
        "Таза суу",
        "--registration",
        "МЮ-123",
    )
    assert rc == 0
    # 30 days after publication; three months after it, on the month's last day if need be.
    assert out.split("\t")[:6] == [
        "SUU",
        "constitution",
        "national",
        "not_yet",
        "0/300000",
        "2026-12-30..2027-02-28",
    ]
    rc, _, err = await civicbot(
        "initiative", "add", "SUU", "--kind", "law", "--title", "x", "--published", "2026-11-30"
    )
    assert rc == 2 and "exists already" in err
    rc, out, _ = await civicbot(
        "initiative", "edit", "SUU", "--opens", "2026-12-01", "--threshold", "299000"
    )
    assert "0/299000\t2026-12-01..2027-02-28" in out
    rc, out, _ = await civicbot("initiative", "list")
    assert out.startswith("SUU\tconstitution")
    rc, out, _ = await civicbot("initiative", "close", "SUU")
    assert "\tclosed\t" in out


async def test_invite_prints_the_deep_link(
    civicbot: Civicbot, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_telegram import TOKEN

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", telegram.base_url)
    rc, out, _ = await civicbot("invite", "--role", "deputy", "--municipality", "chaek")
    code = re.search(r"invite code: ([A-Z2-9]{8})", out)
    assert rc == 0 and code is not None
    assert f"https://t.me/civic_test_bot?start=inv-{code.group(1)}" in out
