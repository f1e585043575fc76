"""The bot's footprint on this machine, in one run, beside issue 31's goals.

    python bench/footprint.py [--venv DIR] [--runs N] [--idle SECONDS]

1. A fresh venv with the runtime dependencies only (from requirements.lock when there is
   one, else from pyproject.toml's ranges), the project installed into it without its
   dependencies; the size of the distributions installed (their files as pip recorded them,
   pip and setuptools left out: the goal's figure), `du` of its site-packages (bytecode and
   pip included) and the biggest distributions.
   `--venv DIR` reuses (or creates once) that venv instead of a new one in /tmp.
2. Idle RSS of `civicbot serve` on an empty SQLite database, (a) every channel configured
   — Telegram polling a local fake Bot API (tests/fake_telegram.py), SMS through an Android
   gateway and WhatsApp through Twilio (placeholders: nothing is sent while idle) — and
   (b) the web chat only; read from /proc after /healthz answers and the server has sat idle.
3. Start time of `civicbot --version` and `civicbot export wishes`: the median of several
   runs after two warm-ups, bytecode compiled beforehand (as hyperfine would).
4. Modules loaded by `import bot.runtime.app` (what `serve` imports) and by `civicbot --version`.

Only 127.0.0.1 is used; pip reaches its index to build the venv.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' fake Bot API

from tests.fake_telegram import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent

# Issue 31's goals.
RSS_ALL_GOAL_MB = 90
RSS_WEB_GOAL_MB = 70
START_GOAL_S = 0.3
ENV_GOAL_MB = 200
# pip and setuptools install things; they are in every venv and no runtime dependency.
INSTALLERS = {"pip", "setuptools", "wheel"}
START_TIMEOUT = 60.0  # seconds for `civicbot serve` to answer /healthz
BIGGEST = 10  # distributions listed


@dataclass
class Figures:
    env_mb: float = 0.0
    du_mb: float = 0.0
    distributions: int = 0
    biggest: tuple[tuple[str, float], ...] = ()
    rss_all_mb: float = 0.0
    rss_web_mb: float = 0.0
    version_s: float = 0.0
    export_s: float = 0.0
    modules_app: int = 0
    modules_version: int = 0


def run(command: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def make_venv(venv: Path) -> None:
    """The runtime environment as a deployment makes it: the lock (or the ranges), then the
    project without dependencies."""
    if not (venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        run([*pip, "--upgrade", "pip"])
        lock = ROOT / "requirements.lock"
        if lock.exists():
            run([*pip, "-r", str(lock)])
            run([*pip, "--no-deps", "-e", str(ROOT)])
        else:
            run([*pip, "-e", str(ROOT)])
    # Bytecode compiled once, as on a deployed machine after its first start.
    run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(site_packages(venv))])
    for package in ("bot", "handlers", "storage"):
        run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(ROOT / package)])


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def environment_size(venv: Path) -> tuple[float, int, tuple[tuple[str, float], ...]]:
    """(MB of the runtime distributions, how many, the biggest by MB): each distribution's
    files as its RECORD lists them, pip and setuptools left out."""
    script = (
        "import importlib.metadata as m, json, os\n"
        "sizes = {}\n"
        "for d in m.distributions():\n"
        "    total = 0\n"
        "    for f in d.files or ():\n"
        "        p = d.locate_file(f)\n"
        "        if os.path.isfile(p): total += os.path.getsize(p)\n"
        "    sizes[d.metadata['Name'].lower()] = total\n"
        "print(json.dumps(sizes))\n"
    )
    sizes: dict[str, int] = json.loads(run([str(venv / "bin" / "python"), "-c", script]).stdout)
    runtime = {name: size for name, size in sizes.items() if name not in INSTALLERS}
    ranked = sorted(runtime.items(), key=lambda item: -item[1])
    biggest = tuple((name, size / 2**20) for name, size in ranked[:BIGGEST])
    return sum(runtime.values()) / 2**20, len(runtime), biggest


def du_mb(folder: Path) -> float:
    """What `du` says of a folder: every file, bytecode and pip included, in MB."""
    return int(run(["du", "-sk", str(folder)]).stdout.split()[0]) / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env(folder: Path, port: int) -> dict[str, str]:
    """The environment without any channel setting a developer's shell or .env might add."""
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TELEGRAM_", "TWILIO_", "ANDROID_", "SMS_", "PUBLIC_", "METRICS_"))
        and name not in ("DATABASE_URL", "SECRET_KEY", "SECRET_KEYS", "PYTHONPATH")
    }
    return keep | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'civicbot.db'}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MEDIA_DIR": str(folder / "media"),
    }


def every_channel(telegram_url: str) -> dict[str, str]:
    """Telegram through the fake; SMS through an Android gateway and WhatsApp through Twilio,
    both set up with placeholders that nothing idle ever calls."""
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram_url,
        "SMS_PROVIDER": "android",
        "ANDROID_GATEWAY_URL": "http://127.0.0.1:9/3rdparty/v1",
        "ANDROID_GATEWAY_LOGIN": "bench",
        "ANDROID_GATEWAY_PASSWORD": "bench-password",
        "ANDROID_GATEWAY_SIGNING_KEY": "bench-signing-key",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "bench-auth-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+15005550006",
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9/unused",
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


async def idle_rss(venv: Path, folder: Path, channels: Mapping[str, str], idle: float) -> float:
    """`civicbot serve` started, answering /healthz, then idle for `idle` seconds: its RSS."""
    port = free_port()
    env = base_env(folder, port) | dict(channels)
    server = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "civicbot"),
        "serve",
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not await asyncio.to_thread(healthy, port):
            if server.returncode is not None or time.monotonic() > deadline:
                assert server.stderr is not None
                errors = (await server.stderr.read()).decode()
                raise RuntimeError(f"civicbot serve did not start:\n{errors[-2000:]}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(idle)
        return rss_mb(server.pid)
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()


async def serve_figures(venv: Path, folder: Path, idle: float) -> tuple[float, float]:
    telegram = FakeTelegram()
    await telegram.start()
    try:
        everything = await idle_rss(venv, folder, every_channel(telegram.base_url), idle)
    finally:
        await telegram.stop()
    web_only = await idle_rss(venv, folder, {}, idle)
    return everything, web_only


def median_seconds(command: Sequence[str], env: Mapping[str, str], cwd: Path, runs: int) -> float:
    for _ in range(2):  # warm-ups: the page cache, as hyperfine's --warmup
        run(command, env=env, cwd=cwd)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run(command, env=env, cwd=cwd)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def modules_loaded(venv: Path, code: str) -> int:
    env = dict(os.environ) | {"PYTHONPATH": ""}
    script = f"import sys\n{code}\nprint(len(sys.modules))"
    output = run([str(venv / "bin" / "python"), "-c", script], env=env).stdout
    return int(output.split()[-1])  # after what the code printed


def measure(venv: Path, runs: int, idle: float) -> Figures:
    make_venv(venv)
    figures = Figures()
    figures.env_mb, figures.distributions, figures.biggest = environment_size(venv)
    figures.du_mb = du_mb(site_packages(venv))
    with tempfile.TemporaryDirectory(prefix="civicbot-footprint-") as name:
        folder = Path(name)
        figures.rss_all_mb, figures.rss_web_mb = asyncio.run(serve_figures(venv, folder, idle))
        env = base_env(folder, free_port())  # the database serve made and left
        civicbot = str(venv / "bin" / "civicbot")
        figures.version_s = median_seconds([civicbot, "--version"], env, folder, runs)
        figures.export_s = median_seconds([civicbot, "export", "wishes"], env, folder, runs)
    figures.modules_app = modules_loaded(venv, "import bot.runtime.app")
    version = "import sys; sys.argv = ['civicbot', '--version']\n"
    version += "from bot.commands.entry import main\ntry: main()\nexcept SystemExit: pass"
    if importlib.util.find_spec("bot.commands.entry") is None:  # before issue 31: cli itself
        version = version.replace("bot.commands.entry", "bot.commands.cli")
    figures.modules_version = modules_loaded(venv, version)
    return figures


def table(figures: Figures) -> str:
    def row(what: str, value: str, goal: str, met: bool | None) -> str:
        verdict = "" if met is None else ("met" if met else "NOT met")
        return f"{what:<44} {value:>10}  {goal:>9}  {verdict}"

    lines = [
        row("", "measured", "goal", None),
        row(
            "runtime environment (MB)",
            f"{figures.env_mb:.0f}",
            f"≤ {ENV_GOAL_MB}",
            figures.env_mb <= ENV_GOAL_MB,
        ),
        row("  distributions", str(figures.distributions), "", None),
        row("  du of site-packages (bytecode, pip)", f"{figures.du_mb:.0f}", "", None),
        row(
            "idle RSS, every channel (MB)",
            f"{figures.rss_all_mb:.0f}",
            f"≤ {RSS_ALL_GOAL_MB}",
            figures.rss_all_mb <= RSS_ALL_GOAL_MB,
        ),
        row(
            "idle RSS, web chat only (MB)",
            f"{figures.rss_web_mb:.0f}",
            f"≤ {RSS_WEB_GOAL_MB}",
            figures.rss_web_mb <= RSS_WEB_GOAL_MB,
        ),
        row(
            "civicbot --version (s, median)",
            f"{figures.version_s:.3f}",
            f"≤ {START_GOAL_S}",
            figures.version_s <= START_GOAL_S,
        ),
        row(
            "civicbot export wishes (s, median)",
            f"{figures.export_s:.3f}",
            f"≤ {START_GOAL_S}",
            figures.export_s <= START_GOAL_S,
        ),
        row("modules after import bot.runtime.app", str(figures.modules_app), "", None),
        row("modules for civicbot --version", str(figures.modules_version), "", None),
        "",
        "biggest distributions (MB):",
        *(f"  {name:<30} {size:6.1f}" for name, size in figures.biggest),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--venv", type=Path, help="the venv to measure (made if absent)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (10)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before RSS (5)")
    args = parser.parse_args(argv)
    if args.venv is not None:
        figures = measure(args.venv.resolve(), args.runs, args.idle)
    else:
        folder = Path(tempfile.mkdtemp(prefix="civicbot-footprint-venv-"))
        try:
            figures = measure(folder / "venv", args.runs, args.idle)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {os.uname().machine}")
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
