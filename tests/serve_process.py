"""`civicbot serve` as the operator starts it: a process of its own, in an empty folder, its
standard output and standard error kept apart (what a terminal or journald shows of each)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CIVICBOT = str(Path(sys.executable).with_name("civicbot"))
# Settings a test's own environment may hold, which the process must not inherit.
UNSET = ("TELEGRAM_", "TWILIO_", "DATABASE_", "PUBLIC_BASE_URL", "LOG_", "ANDROID_", "SMS_")


@dataclass
class Served:
    base_url: str
    stdout: str = ""
    stderr: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(folder: Path, settings: Mapping[str, str] = {}) -> Iterator[Served]:
    """The server started and answering /healthz; on leaving, stopped (SIGTERM) and its
    output read into the Served."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(UNSET)}
    env.update(PORT=str(port), PYTHONUNBUFFERED="1", **settings)
    served = Served(f"http://127.0.0.1:{port}")
    # Files, not pipes: a pipe nobody reads while the test runs could fill and stop it.
    out, err = folder.parent / f"{folder.name}.stdout", folder.parent / f"{folder.name}.stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [CIVICBOT, "serve"], cwd=folder, env=env, stdout=stdout, stderr=stderr
        )
        try:
            _wait_until_healthy(served.base_url, process)
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            served.stdout, served.stderr = out.read_text(), err.read_text()
    assert process.returncode == 0, served.stderr


def run_to_its_end(folder: Path, settings: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`civicbot serve` for a start that is refused: run until it exits, its code and output
    kept (what systemd sees of a start that ends at once)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(UNSET)}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "bot.commands.cli", "serve"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    # A wait for readiness, not a speed goal: a fresh start migrates and seeds (about 5 s
    # here), and other tests share the cores.
    for _ in range(300):  # at most ~30 s
        assert process.poll() is None, "civicbot serve ended at its start"
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("civicbot serve did not answer /healthz in 30 s")


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
