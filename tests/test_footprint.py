"""What the program loads before it needs it (docs/operations.md, "Footprint";
bench/footprint.py measures the memory and the time): `civicbot --version` answers without
importing the app, and the server starts without the libraries only some requests use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CIVICBOT = str(Path(sys.executable).with_name("civicbot"))
# Loaded at the first photo, chart, poster, page or SMS sent, never at start.
LOADED_WHEN_USED = (
    "PIL",  # photos, digest charts, posters
    "segno",  # posters' QR codes
    "jinja2",  # the web pages
    "openpyxl",  # XLSX exports
    "twilio.rest",  # Twilio's REST client: SMS sent
    "android_sms_gateway",  # the gateway's client: SMS sent
    "holidays",  # the appeals clock's first working day counted
)


def loaded(code: str) -> set[str]:
    """The modules a fresh interpreter holds after `code` (our checkout first on the path)."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_version_is_answered_without_importing_the_app() -> None:
    """Through the installed `civicbot` script: Python names every module it imports (`-X
    importtime`, as PYTHONPROFILEIMPORTTIME) on stderr."""
    env = os.environ | {"PYTHONPROFILEIMPORTTIME": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([CIVICBOT, "--version"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("civicbot 0."), done.stderr[-500:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "bot.commands.entry" in imported  # the listing is there
    for module in ("bot.commands.cli", "bot.runtime.config", "sqlalchemy", "pydantic"):
        assert module not in imported


def test_the_server_starts_without_the_libraries_of_what_is_not_yet_asked() -> None:
    modules = loaded("import bot.runtime.app")
    assert "bot.runtime.app" in modules and "aiohttp" in modules
    early = [m for m in modules if any(m == n or m.startswith(f"{n}.") for n in LOADED_WHEN_USED)]
    assert early == []
