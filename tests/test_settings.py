"""Settings declared once: the model drives parsing, `--help` and `.env.example`; `.env` is read
by the commands; the operator's commands that do not send load no channel stack."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.commands import cli
from bot.runtime import config
from bot.runtime.config import DOTENV, ENVIRONMENT, ConfigError, Settings
from storage import domain
from tests.conftest import SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]
NAMES = [name for name, _ in ENVIRONMENT]
# .env is docker compose's file too: what only its database service reads (docker-compose.yml).
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}


@pytest.fixture
def no_settings_in_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working folder, and none of the settings in the environment."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "DOTENV", DOTENV)  # the real default, in this folder
    return tmp_path


def test_every_setting_has_one_line_of_help_in_serve_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    serve_help = capsys.readouterr().out
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description, so no line in --help"
        assert f"  {name.upper()}\n      {field.description}" in serve_help


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE)
    assert len(listed) == len(set(listed)), "a variable listed twice"
    assert set(NAMES) - set(listed) == set(), "settings .env.example does not list"
    assert set(listed) - set(NAMES) == COMPOSE_ONLY, "listed, but not a setting"
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert all(f"${{{name}" in compose for name in COMPOSE_ONLY)


def test_the_example_read_as_a_dotenv_file_stops_at_its_placeholder(
    no_settings_in_environment: Path,
) -> None:
    """Every line of .env.example parses; its one placeholder is refused, named."""
    example = ROOT / ".env.example"
    with pytest.raises(ConfigError, match=r"^SECRET_KEY: still the example's placeholder"):
        Settings.from_env(env_file=example)
    filled = example.read_text().replace(
        "SECRET_KEY=change-me-at-least-32-random-characters", f"SECRET_KEY={'k' * 32}"
    )
    (no_settings_in_environment / ".env").write_text(filled)
    read = Settings.from_env()
    assert read.secret_key == "k" * 32
    assert read.twilio_webhook_overrides == "rc=5&rp=all" and read.port == 8080


def test_constructing_settings_reads_neither_environment_nor_dotenv(
    no_settings_in_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "9999")
    (no_settings_in_environment / ".env").write_text("PORT=7000\nHOST=0.0.0.0\n")
    assert Settings().port == 8080 and Settings().host == "127.0.0.1"
    assert Settings(port=0, secret_key="k").port == 0  # taken as given: no operator's checks
    assert Settings.from_env({}).port == 8080  # a given mapping alone
    assert Settings.from_env().port == 9999


def test_dotenv_is_read_and_the_environment_wins(
    no_settings_in_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = no_settings_in_environment / "elsewhere.env"
    dotenv.write_text(
        "# a comment\n"
        "PORT=7000\n"
        'PUBLIC_BASE_URL="https://bot.example.kg/"\n'
        "SECRET_KEY_PREVIOUS=old1, old2\n"
        "TELEGRAM_BOT_TOKEN=\n"  # empty: unset
        "POSTGRES_PASSWORD=for-compose\n"  # not ours: ignored
    )
    monkeypatch.setenv("PORT", "9000")
    read = Settings.from_env(env_file=dotenv)
    assert read.port == 9000
    assert read.public_base_url == "https://bot.example.kg"
    assert read.secret_key_previous == ("old1", "old2")
    assert read.telegram_bot_token is None
    assert type(read) is Settings
    assert Settings.from_env(env_file=no_settings_in_environment / "absent.env").port == 9000


def test_civicbot_reads_dotenv_in_the_working_folder(
    no_settings_in_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = no_settings_in_environment
    database = folder / "from-dotenv.db"
    (folder / ".env").write_text(f"DATABASE_URL=sqlite+aiosqlite:///{database}\n")
    assert cli.main(["municipality", "list"]) == 0
    assert database.exists() and "naryn_city" in capsys.readouterr().out
    (folder / ".env").write_text("TIMEZONE=Mars/Olympus\n")
    assert cli.main(["municipality", "list"]) == 2
    assert capsys.readouterr().err == (
        "civicbot: TIMEZONE 'Mars/Olympus' is not a known time zone\n"
    )


def test_the_language_list_is_declared_once() -> None:
    """storage/domain.py names the languages; every other module imports that name (the
    layers are held by tests/test_architecture.py)."""
    from bot.commands import admin
    from handlers import context

    assert admin.LANGUAGES is context.LANGUAGES is domain.LANGUAGES
    spelled_out = re.compile(r"""\(\s*["']ky["'],\s*["']ru["'],\s*["']en["']""")
    again = [
        str(path.relative_to(ROOT))
        for folder in ("bot", "handlers", "storage")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if spelled_out.search(path.read_text(encoding="utf-8"))
    ]
    assert again == ["storage/domain.py"]


# The stacks a command that does not send must not load: our Bot API and Twilio clients
# (python-telegram-bot and twilio themselves are test dependencies only), aiohttp's server.
SENDING_STACKS = ("bot.channels.telegram.bot_api", "bot.channels.sms.twilio_api", "aiohttp.web")
QUIET_COMMANDS = [
    ["export", "wishes"],
    ["export", "bribes", "--format", "xlsx", "--output", "bribes.xlsx"],
    ["export", "campaigns"],
    ["initiative", "add", "SUU", "--kind", "law", "--published", "2026-01-10", "--title", "Suu"],
    ["initiative", "list"],
    ["export", "signatures", "--initiative", "SUU"],
    ["verify-export", "signatures.csv"],
    ["invite", "--role", "staff", "--municipality", "naryn_city"],
    ["report", "bribes", "--municipality", "naryn_city"],
    ["secret", "new"],
    ["secret", "rotate"],
    ["municipality", "list"],
    ["campaign", "list"],
]
PROBE = """
import contextlib, io, json, sys
from bot.commands import cli

def loaded():
    return sorted(m for m in sys.modules if m.startswith(STACKS))

STACKS = tuple(json.loads(sys.argv[1]))
report = []
for arguments in json.loads(sys.argv[2]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(arguments)
    if arguments[:2] == ["export", "signatures"]:
        open("signatures.csv", "w").write(out.getvalue())
    report.append([arguments, code, loaded()])
import bot.runtime.app  # what `serve` loads, and with Telegram on its channel (PTB only
import bot.channels.telegram.channel  # then: tests/test_footprint.py): the probe sees them
report.append([["serve (imported)"], 0, loaded()])
print(json.dumps(report))
"""


def test_commands_that_do_not_send_load_no_channel_stack(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'quiet.db'}",
        "SECRET_KEY": SECRET_KEY,
        "SECRET_KEY_PREVIOUS": SECRET_KEY[::-1],
        "TELEGRAM_BOT_TOKEN": "",  # invite and campaign ask Telegram only with a token
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(SENDING_STACKS), json.dumps(QUIET_COMMANDS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    *commands, serve = json.loads(done.stdout.splitlines()[-1])
    assert [(arguments, code) for arguments, code, _ in commands] == [
        (arguments, 0) for arguments in QUIET_COMMANDS
    ], done.stderr
    assert [(arguments, stacks) for arguments, _, stacks in commands] == [
        (arguments, []) for arguments in QUIET_COMMANDS
    ]
    assert {stack for stack in SENDING_STACKS if any(m.startswith(stack) for m in serve[2])} == set(
        SENDING_STACKS
    )


def test_only_the_variables_own_names_are_read(
    no_settings_in_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("port", "1")
    monkeypatch.setenv("host", "0.0.0.0")
    (no_settings_in_environment / ".env").write_text("timezone=Mars/Olympus\n")
    read = Settings.from_env()
    assert (read.port, read.host, read.timezone) == (8080, "127.0.0.1", "Asia/Bishkek")
    assert Settings.from_env({"port": "1"}).port == 8080


def test_a_new_key_and_a_check_need_no_settings(
    no_settings_in_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `cp .env.example .env` the key is still the placeholder: `civicbot secret new`
    must still make the key that goes there (and verify-export check a file)."""
    (no_settings_in_environment / ".env").write_text((ROOT / ".env.example").read_text())
    assert cli.main(["secret", "new"]) == 0
    key = capsys.readouterr().out.strip()
    assert len(key) >= 32 and "change-me" not in key
    assert cli.main(["verify-export", str(no_settings_in_environment / "none.csv")]) != 0
    assert "placeholder" not in capsys.readouterr().err
    assert cli.main(["municipality", "list"]) == 2  # a command that needs the key says so
    assert "SECRET_KEY: still the example's placeholder" in capsys.readouterr().err
