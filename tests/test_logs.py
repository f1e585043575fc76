"""What `civicbot serve` logs (bot/runtime/logs.py): one stream, standard error, for the log
lines and the start's hints, the address of /try first; JSON lines carrying structured
fields; quiet when idle; never a resident's number, chat id or words."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from bot.runtime import logs
from tests.conftest import SECRET_KEY, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.serve_process import run_to_its_end, serving
from tests.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, inbound_form, post_signed

PUBLIC = "https://civic.example.test"  # tests.conftest.PUBLIC_BASE_URL: what Twilio signs
SMS_ON = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_FROM_NUMBER": FROM_NUMBER,
    "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # answers go back in TwiML: never called
    "PUBLIC_BASE_URL": PUBLIC,
    "LOG_FORMAT": "json",
}
SENDER = "+996555712345"
# A wish that carries a phone number of its own, and words no log line may repeat.
WISH = "CHANGE 5 Water pipe burst on Chuy 44, call me at +996 700 998 877"
SECRETS = [
    "555712345",
    "996555712345",
    "700 998 877",
    "700998877",
    "Water pipe",
    "Chuy 44",
    "burst",
]


def json_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


async def test_one_stream_the_address_first_and_structured_lines_naming_no_one(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "bot"
    folder.mkdir()
    with serving(folder, SMS_ON) as first:
        pass
    with serving(folder, SMS_ON) as again:
        for body in ("PLACE naryn_city", WISH):
            status, _ = await post_signed(again.base_url, "/sms/twilio", inbound_form(SENDER, body))
            assert status == 200

    assert first.stdout == again.stdout == ""  # everything on standard error
    made, lines = json_lines(first.stderr), json_lines(again.stderr)
    address = f"Open {again.base_url}/try to try the bot in a browser"
    assert lines[0]["message"] == address and lines[0]["event"] == "hint"
    # On the first start only the new database's lines come before the address.
    before = [
        line["logger"]
        for line in made[: made.index(next(m for m in made if "/try" in m["message"]))]
    ]
    assert set(before) <= {"storage.db", "bot.runtime.database"}
    assert not [line for line in made + lines if line["logger"].startswith("apscheduler")]

    inbound = [line for line in lines if line.get("event") == "inbound"]
    assert [(line["channel"], line["outcome"]) for line in inbound] == [("sms", "answered")] * 2
    assert all(isinstance(line["duration_ms"], float) for line in inbound)
    for secret in SECRETS:
        assert secret not in first.stderr + again.stderr, secret


@pytest.fixture
def routine_quiet() -> Iterator[None]:
    """The libraries' levels as `civicbot serve` sets them; restored after."""
    levels = {name: logging.getLogger(name).level for name in logs.ROUTINE}
    logs.quiet_routine()
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def test_an_idle_server_says_nothing_at_info_while_its_jobs_run(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture, routine_quiet: None
) -> None:
    """Every job the scheduler runs within a minute or ten (all but the weekly digest), run
    now, twice, with nothing to do: no line at INFO or above."""
    caplog.set_level(logging.INFO)  # the level `civicbot serve` logs at
    caplog.set_level(logging.DEBUG, logger="bot.digests.schedule")  # to see them finish
    runtime = await start_bot("webhook")
    assert runtime.jobs is not None
    scheduler = runtime.jobs.scheduler
    periodic = [job for job in scheduler.get_jobs() if isinstance(job.trigger, IntervalTrigger)]
    assert len(periodic) >= 6
    for _ in range(2):
        await asyncio.sleep(0.2)  # the jobs of the start are done
        caplog.clear()
        for job in periodic:
            job.modify(next_run_time=datetime.now(UTC))
        names = {job.id for job in periodic}
        for _ in range(200):  # a wait for the jobs, bounded: at most ~10 s
            done = {
                getattr(r, "job", "") for r in caplog.records if getattr(r, "outcome", "") == "done"
            }
            if names <= done:
                break
            await asyncio.sleep(0.05)
        assert names <= done
        said = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.INFO]
        assert said == []


async def test_no_line_names_a_telegram_chat_or_repeats_what_was_written(
    start_bot: StartBot,
    telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
    routine_quiet: None,
) -> None:
    caplog.set_level(logging.INFO)
    runtime = await start_bot("webhook")
    chat = 7_512_345_678
    resident = resident_of(runtime, telegram, "webhook", chat, "en")
    await resident.send("/start m-naryn_city")
    await resident.leave_wish("change", category("drinking_water")["en"], WISH[9:])
    await resident.redeliver()

    formatter = logs.JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    inbound = [json.loads(line) for line in lines if '"event": "inbound"' in line]
    assert {(i["channel"], i["outcome"]) for i in inbound} >= {
        ("telegram", "answered"),
        ("telegram", "duplicate"),
    }
    for secret in [str(chat), *SECRETS]:
        assert not [line for line in lines if secret in line], secret


def test_a_line_whose_arguments_do_not_fit_is_logged_without_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A mistaken call (two values for one %s) still gives one JSON line, and never prints
    the values through logging's own error handler; a field JSON cannot hold is its text."""
    logs.configure("json")
    try:
        log = logging.getLogger("civicbot.test")
        log.info("inbound %s", "telegram", "+996555712345")
        log.info("stored in %s", Path("/var/lib/civicbot"), extra={"event": Path("odd")})
        log.info("a stack", stack_info=True)
    finally:
        logging.getLogger().handlers.clear()
    written = capsys.readouterr().err
    assert "+996555712345" not in written
    lines = [json.loads(line) for line in written.splitlines()]
    assert [line["message"] for line in lines] == [
        "inbound %s (its arguments did not fit; left out)",
        "stored in /var/lib/civicbot",
        "a stack",
    ]
    assert lines[1]["event"] == "odd" and "test_logs.py" in lines[2]["stack"]


def test_a_refused_start_is_one_json_line_with_log_format_json(tmp_path: Path) -> None:
    """A collector reads every line of the stream as JSON: a start refused (here, a port
    taken) is one object too, not `civicbot: …` as at a terminal."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}",
            "SECRET_KEY": SECRET_KEY,
            "HOST": "127.0.0.1",
            "PORT": str(taken.getsockname()[1]),
            "LOG_FORMAT": "json",
        }
        done = run_to_its_end(tmp_path, settings)
    assert done.returncode == 2, done.stderr
    last = json_lines(done.stderr)[-1]  # every line is one JSON object
    assert last["level"] == "ERROR" and (last["event"], last["outcome"]) == ("start", "refused")
    assert last["message"].startswith("cannot listen on 127.0.0.1:")
