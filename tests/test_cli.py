"""The `civicbot` command line: export safety, one-line errors, and `serve` as a process."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.channels.sms.registered import SMS_OFF
from bot.channels.telegram.registered import TELEGRAM_OFF
from bot.commands import cli
from bot.reports.export import safe_cell
from tests.conftest import Civicbot, ExportWishes, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.initiatives import open_initiative
from tests.serve_process import free_port

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
        # A wait for readiness, not a speed goal: a fresh start migrates and seeds in a child
        # process (about 5 s alone here), and four test workers share two cores.
        for _ in range(300):  # at most ~30 s
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
    frozen = re.search(r"(\d+) objects of the start frozen", output)  # out of the GC's sight
    assert frozen is not None and int(frozen.group(1)) > 10_000
    assert "the youngest collected past 10000" in output  # a batch's objects, freed by counts
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
    monkeypatch.chdir(tmp_path)
    named_file = ["export", "bribes", "--format", "xlsx"]  # to a file named for it
    assert await asyncio.to_thread(cli.main, named_file) == 0
    day = dt.datetime.now(ZoneInfo("Asia/Bishkek")).date().isoformat()
    named = load_workbook(tmp_path / f"bribes-{day}.xlsx").active
    assert named is not None and list(named.iter_rows(values_only=True)) == rows


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


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def another_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An operator in a folder that is not the bot's: no DATABASE_URL, no .env, no database."""
    for name in ("DATABASE_URL", "SECRET_KEY", "SECRET_KEY_PREVIOUS", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize(
    "arguments",
    [
        ["export", "wishes"],
        ["export", "signatures", "--initiative", "SUU"],
        ["municipality", "list"],
        ["invite", "--role", "staff", "--municipality", "naryn_city"],
        ["chat"],
    ],
)
def test_a_command_run_elsewhere_creates_no_database(
    arguments: list[str], another_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without DATABASE_URL the database is ./civicbot.db: a command run from another folder
    says there is none there and how to make one, and leaves nothing behind (no empty
    database, no key file)."""
    assert cli.main(arguments) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("civicbot: "), err
    assert str(another_folder / "civicbot.db") in err and "civicbot db init" in err
    assert list(another_folder.iterdir()) == []


def test_db_init_creates_the_database_and_commands_say_which_they_use(
    another_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = another_folder / "civicbot.db"
    assert cli.main(["db", "init"]) == 0
    said = capsys.readouterr()
    assert database.exists() and str(database) in said.out and "created" in said.out
    assert cli.main(["db", "init"]) == 0  # safe to repeat
    assert "created" not in capsys.readouterr().out
    assert cli.main(["export", "wishes"]) == 0
    said = capsys.readouterr()
    assert said.out.startswith("reference,") and f"database {database}" in said.err
    assert cli.main(["municipality", "list"]) == 0
    assert f"database {database}" in capsys.readouterr().err


def test_make_targets_run_the_operators_commands(tmp_path: Path) -> None:
    """`make run` leaves `civicbot` in .venv/bin, not on the PATH: make runs the common
    commands (here with a stand-in virtualenv whose civicbot is this one)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "civicbot").symlink_to(CIVICBOT)
    (venv / ".installed").touch()  # newer than pyproject.toml: make installs nothing
    database = tmp_path / "made.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{database}", SECRET_KEY="k" * 32)

    def make(*arguments: str, given: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "-s", "-C", str(ROOT), f"VENV={venv}", *arguments],
            env=env, input=given, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert make("db").returncode == 0 and database.exists()
    listed = make("places")
    assert listed.returncode == 0 and "\tnaryn_city\t" in listed.stdout
    invited = make("invite", "ROLE=staff", "MUNICIPALITY=naryn_city")
    assert invited.returncode == 0 and "JOIN " in invited.stdout
    chat = make("chat", given="/help\n\n")
    assert chat.returncode == 0 and "/change" in chat.stdout
    passed = make("civicbot", "ARGS=officials list")
    assert passed.returncode == 0 and passed.stdout.startswith("id\trole")


async def test_an_xlsx_export_without_output_goes_to_a_named_file(
    civicbot: Civicbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl import load_workbook

    monkeypatch.chdir(tmp_path)
    day = dt.datetime.now(ZoneInfo("Asia/Bishkek")).date().isoformat()
    rc, out, err = await civicbot("export", "wishes", "--format", "xlsx")
    assert rc == 0 and out == "", err
    first = tmp_path / f"wishes-{day}.xlsx"
    assert f"written to {first.name}" in err
    assert load_workbook(first).active.cell(1, 1).value == "reference"  # type: ignore[union-attr]
    rc, _, err = await civicbot("export", "bribes", "--format", "xlsx", "--municipality", "chaek")
    assert rc == 0 and (tmp_path / f"bribes-chaek-{day}.xlsx").exists(), err
    rc, _, err = await civicbot("export", "wishes", "--format", "xlsx")  # an earlier one stays
    assert rc == 0 and f"written to wishes-{day}-2.xlsx" in err and first.exists()
    assert (await civicbot(*open_initiative("SUU")))[0] == 0
    rc, _, err = await civicbot("export", "signatures", "--initiative", "suu", "--format", "xlsx")
    assert rc == 0 and f"written to signatures-suu-{day}.xlsx" in err, err


async def test_report_bribes_names_its_period_in_order(civicbot: Civicbot) -> None:
    rc, out, err = await civicbot(
        "report", "bribes", "--municipality", "naryn_city", "--period", "2026-09:2026-11"
    )
    assert rc == 0, err
    assert out.splitlines()[0] == "Bribe reports: Naryn city, 2026-09 – 2026-11"


async def test_a_quiet_weeks_preview_says_no_chart_and_fails_when_one_was_asked_for(
    civicbot: Civicbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    chart = here / "chart.png"
    rc, out, err = await civicbot(
        "digest", "preview", "--municipality", "naryn_city", "--lang", "en", "--chart", str(chart)
    )
    assert rc == 1 and "quiet week" in out.lower()
    assert err.count("\n") == 1 and str(chart) in err and "not written" in err
    assert not chart.exists()
    rc, _, err = await civicbot("digest", "preview", "--municipality", "naryn_city")
    assert rc == 0 and "no chart" in err and list(here.iterdir()) == []


async def test_the_poster_asks_telegram_for_the_bot_and_says_when_it_cannot(
    civicbot: Civicbot, telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --bot, the bot's name comes from Telegram (getMe); when Telegram cannot be
    reached, one line says to give --bot."""
    from tests.test_campaigns import campaign

    await campaign(civicbot, "TREE")
    png = tmp_path / "tree.png"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", telegram.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", telegram.base_url)
    rc, out, err = await civicbot("campaign", "poster", "TREE", "--output", str(png))
    assert rc == 0 and out.endswith(": https://t.me/civic_test_bot?start=c-TREE\n"), err
    assert [call.method for call in telegram.calls] == ["getMe"]
    png.unlink()
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{free_port()}/bot")
    rc, _, err = await civicbot("campaign", "poster", "TREE", "--output", str(png))
    assert rc == 2 and err.count("\n") == 1, err
    assert "Telegram did not say the bot's name" in err and "--bot NAME" in err
    assert not png.exists()


async def test_the_poster_takes_the_bot_as_people_copy_it_and_says_what_it_needs(
    civicbot: Civicbot, tmp_path: Path
) -> None:
    from tests.test_campaigns import campaign

    await campaign(civicbot, "TREE")
    png = tmp_path / "tree.png"
    poster = ("campaign", "poster", "TREE", "--output", str(png), "--bot")
    for given in ("@civic_test_bot", "https://t.me/civic_test_bot", "t.me/civic_test_bot/"):
        rc, out, err = await civicbot(*poster, given)
        assert rc == 0 and out.endswith(": https://t.me/civic_test_bot?start=c-TREE\n"), err
    png.unlink()
    for wrong in ("civic test", "https://example.com/civic_test_bot", "x", "civic_test"):
        rc, _, err = await civicbot(*poster, wrong)
        assert rc == 2 and err.count("\n") == 1 and "--bot" in err, (wrong, err)
    rc, _, err = await civicbot("campaign", "poster", "TREE", "--output", str(png))
    assert rc == 2 and err.count("\n") == 1, err  # no token to ask Telegram with, and no --bot
    assert "--bot" in err and "@BotFather" in err and "TELEGRAM_BOT_TOKEN" in err
    assert not png.exists()
