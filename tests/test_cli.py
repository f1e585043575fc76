"""The `civicbot` command line: export safety, one-line errors, and `serve` as a process."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.channels.sms.registered import SMS_OFF
from bot.channels.telegram.registered import TELEGRAM_OFF
from bot.commands import cli
from bot.reports.export import safe_cell
from tests.conftest import ExportWishes, StartBot, resident_of
from tests.fake_telegram import FakeTelegram

CIVICBOT = str(Path(sys.executable).with_name("civicbot"))


@pytest.mark.parametrize(
    "value,expected",
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+996 555", "'+996 555"),
        ("-5", "'-5"),
        ("@sum", "'@sum"),
        ("\tx", "'\tx"),
        ("Жол", "Жол"),
        ("a=b", "a=b"),
        (None, ""),
    ],
)
def test_safe_cell(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


async def test_exported_wish_texts_cannot_run_as_formulas(
    start_bot: StartBot, telegram: FakeTelegram, export_wishes: ExportWishes
) -> None:
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9501, "en")
    await resident.send("/start m-naryn_city")
    await resident.leave_wish(
        "change", "Budget information", '=HYPERLINK("http://evil.example","budget")'
    )
    rows = await export_wishes()
    assert rows[0]["text"] == '\'=HYPERLINK("http://evil.example","budget")'


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["export", "wishes", "--municipality", "atlantis"], "unknown municipality 'atlantis'"),
        (["export", "everything"], "invalid choice"),
        (["export", "wishes", "--format", "pdf"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(
    arguments: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    assert cli.main(arguments) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("civicbot: ") and message in err


def test_municipality_list_shows_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    assert cli.main(["municipality", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:3] == ["101", "naryn_city", "naryn"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_with_no_configuration_at_all(tmp_path: Path) -> None:
    """What `make run` does: `civicbot serve` in an empty directory, nothing set."""
    port = free_port()
    unset = ("TELEGRAM_", "TWILIO_", "DATABASE_", "PUBLIC_BASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    env.update(PORT=str(port), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [CIVICBOT, "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        for _ in range(100):  # at most ~10 s
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.1)
        assert status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert TELEGRAM_OFF in output and SMS_OFF in output
    assert "event loop: uvloop" in output  # libuv's, where it exists (bot/commands/cli.py)
    assert (tmp_path / "civicbot.db").exists() and (tmp_path / "civicbot.secret").exists()


async def _sms_reports(runtime_url: str, reports: list[tuple[str, str]]) -> None:
    from tests.twilio import inbound_form, post_signed

    for sender, body in reports:
        await post_signed(runtime_url, "/sms/twilio", inbound_form(sender, "ЖЕР 101"))
        await post_signed(runtime_url, "/sms/twilio", inbound_form(sender, body))


async def test_report_bribes_prints_suppressed_aggregates(
    start_bot: StartBot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.twilio import twilio_settings

    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    await _sms_reports(
        runtime.base_url,
        [(f"+99655510000{n}", f"ПАРА 1 {amount}") for n, amount in enumerate((1000, 3000, 2000))]
        + [("+996555200001", "ПАРА 6 500")],
    )
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-not-for-production")
    capsys.readouterr()
    code = await asyncio.to_thread(
        cli.main, ["report", "bribes", "--municipality", "naryn_city", "--lang", "ru"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Сообщения о взятках: город Нарын" in out
    assert "1. Получение справок — сообщений: 3" in out
    assert "обычная сумма (медиана): 2 000 сом" in out
    assert "6. Внесение в список малоимущих — сообщений: меньше 3" in out
    assert "500" not in out  # one report's amount is never shown
    assert (
        await asyncio.to_thread(
            cli.main, ["report", "bribes", "--municipality", "naryn_city", "--period", "1999-01"]
        )
        == 0
    )
    assert "No reports in this period." in capsys.readouterr().out


async def test_export_bribes_as_xlsx_is_spreadsheet_safe(
    start_bot: StartBot, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl import load_workbook

    from tests.twilio import twilio_settings

    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    await _sms_reports(runtime.base_url, [("+996555300001", "ПАРА 2 3000 =SUM(A1:A9)")])
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-not-for-production")
    out = tmp_path / "bribes.xlsx"
    command = ["export", "bribes", "--format", "xlsx", "--output", str(out)]
    assert await asyncio.to_thread(cli.main, command) == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("reference", "created_on", "month")
    assert rows[1][5:10] == (2, "municipal_job", "asked", 3000, "sms")
    assert rows[1][10] == "'=SUM(A1:A9)"  # text, not a formula
    assert cli.main(["export", "bribes", "--format", "xlsx"]) == 2  # needs --output


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Another program holds the port: one line that says what to change, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
        env.update(PORT=str(port), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
        done = subprocess.run(
            [CIVICBOT, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("civicbot:")]
    assert f"127.0.0.1:{port}" in line and "PORT" in line


def test_a_bad_schedule_stops_the_start_before_the_database_is_touched(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(DIGEST_CRON="every monday", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    done = subprocess.run(
        [CIVICBOT, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "DIGEST_CRON" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_version_help_and_every_option_explained(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.commands import cli
    from bot.runtime.config import ENVIRONMENT

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("civicbot 0.")
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    serve_help = capsys.readouterr().out
    for names, _ in ENVIRONMENT:
        for name in names.split(", "):
            assert name in serve_help

    def unexplained(parser: argparse.ArgumentParser, where: str) -> list[str]:
        missing = []
        for action in parser._actions:  # argparse keeps no public list of them
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    missing += unexplained(sub, f"{where} {name}")
            elif not action.help:
                missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert unexplained(cli.build_parser(), "civicbot") == []
