"""How fast the core takes residents' messages, against three other designs measured in the
same run on the same machine and database settings.

A closed loop: N residents, C at a time, each going through the wish flow by webhook —
`/start m-KEY`, a language button, `/change`, a category button, the text — against a local
fake Bot API. A step is done when its answer has reached the fake (and, for ours, when the
webhook has said 200, which it does only after the commit). Targets, each its own process:

- ours: `civicbot serve` in webhook mode;
- floor: a bare aiohttp handler, one INSERT + commit + one Bot API call per update
  (bench/targets/floor.py);
- ptb: python-telegram-bot's canonical design, ConversationHandler + PicklePersistence
  (bench/targets/ptb_canonical.py);
- aiogram: aiogram 3's canonical design, Router + FSM in MemoryStorage, its webhook handler
  (bench/targets/aiogram_canonical.py) — when aiogram is installed (`pip install -e .[bench]`).

    .venv/bin/python bench/ingest.py [--residents 400] [--concurrency 40]
        [--database-url URL] [--workers N] [--targets ours,floor,ptb,aiogram]

Prints updates/s, p50 and p99 step latency and peak RSS of each, and ours as a ratio of each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import os
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import SECRET_KEY
from tests.fake_telegram import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret"
PLACE = "tokmok"
WISH = "Көчөдө жарык жок, кечинде караңгы."
STEP_TIMEOUT = 30.0
STEPS = (
    ("text", f"/start m-{PLACE}"),
    ("button", ""),
    ("text", "/change"),
    ("button", ""),
    ("text", WISH),
)
TARGETS = ("ours", "floor", "ptb", "aiogram")


class BenchTelegram(FakeTelegram):
    """The tests' fake Bot API, also handing each chat's messages to whoever waits for them."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.inbox: dict[int, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super()._sendMessage(params)
        if response.status == 200:
            self.inbox[int(params["chat_id"])].put_nowait(params)
        return response


@dataclass
class Result:
    name: str
    updates: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most memory the process ever had resident."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- the residents ------------------------------------------------------------------------

ids = itertools.count(1)


def message_update(chat: int, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(ids),
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "Bench"},
        "from": {"id": chat, "is_bot": False, "first_name": "Bench", "language_code": "ky"},
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split(" ", 1)[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"update_id": next(ids), "message": message}


def button_update(chat: int, shown: dict[str, Any] | None) -> dict[str, Any]:
    """A press on the first button of the newest keyboard the resident was shown."""
    data = "x"
    if shown is not None:
        data = shown["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    user = {"id": chat, "is_bot": False, "first_name": "Bench", "language_code": "ky"}
    message = {
        "message_id": next(ids),
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "Bench"},
        "text": shown["text"] if shown else "old",
    }
    query = {
        "id": f"cb{next(ids)}",
        "from": user,
        "chat_instance": "b",
        "data": data,
        "message": message,
    }
    return {"update_id": next(ids), "callback_query": query}


Post = Callable[[dict[str, Any]], Awaitable[int]]


async def resident(chat: int, post: Post, telegram: BenchTelegram, result: Result | None) -> None:
    inbox = telegram.inbox[chat]
    shown: dict[str, Any] | None = None
    for kind, text in STEPS:
        update = message_update(chat, text) if kind == "text" else button_update(chat, shown)
        started = time.perf_counter()
        status = await post(update)
        try:
            answers = [await asyncio.wait_for(inbox.get(), STEP_TIMEOUT)]
        except TimeoutError:
            answers = []
        while not inbox.empty():
            answers.append(inbox.get_nowait())
        elapsed = time.perf_counter() - started
        if result is not None:
            result.updates += 1
            result.latencies.append(elapsed)
            result.errors += status != 200 or not answers
        keyboards = [a for a in answers if a.get("reply_markup")]
        shown = keyboards[-1] if keyboards else shown


async def load(
    first_chat: int,
    residents: int,
    concurrency: int,
    post: Post,
    telegram: BenchTelegram,
    result: Result | None,
) -> None:
    chats = iter(range(first_chat, first_chat + residents))

    async def worker() -> None:
        for chat in chats:
            await resident(chat, post, telegram, result)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- the targets --------------------------------------------------------------------------


def command_for(name: str, port: int, database_url: str, api_base: str, work: Path) -> list[str]:
    python = sys.executable
    if name == "ours":
        return [python, "-m", "bot.commands.cli", "serve"]
    script = {"floor": "floor.py", "ptb": "ptb_canonical.py", "aiogram": "aiogram_canonical.py"}
    command = [
        python,
        str(ROOT / "bench" / "targets" / script[name]),
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--api-base",
        api_base,
        "--token",
        TOKEN,
    ]
    if name == "ptb":
        command += ["--pickle", str(work / "ptb.pickle")]
    return command


async def start_process(
    name: str, port: int, database_url: str, telegram: BenchTelegram, work: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SECRET_KEY": SECRET_KEY,
        "PYTHONPATH": str(ROOT),
    }
    log = (work / f"{name}-{port}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *command_for(name, port, database_url, telegram.base_url, work),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    await wait_ready(name, port, telegram, process)
    return process


async def wait_ready(
    name: str, port: int, telegram: BenchTelegram, process: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise SystemExit(f"{name} exited with {process.returncode}; see its log")
            with contextlib.suppress(aiohttp.ClientError):
                if name == "ours":
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200 and telegram.webhook_url:
                            return
                else:
                    async with http.get(f"http://127.0.0.1:{port}/") as response:
                        return
            await asyncio.sleep(0.2)
    raise SystemExit(f"{name} did not start within a minute")


async def measure(
    name: str, args: argparse.Namespace, telegram: BenchTelegram, work: Path, base_chat: int
) -> Result:
    database_url = args.database_url or f"sqlite+aiosqlite:///{work / name}.db"
    workers = args.workers if name == "ours" else 1
    ports = [free_port() for _ in range(workers)]
    processes = [await start_process(name, port, database_url, telegram, work) for port in ports]
    urls = itertools.cycle(f"http://127.0.0.1:{port}/telegram/webhook" for port in ports)
    result = Result(name)
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(update: dict[str, Any]) -> int:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(next(urls), json=update, headers=headers) as response:
                await response.read()
                return response.status

        try:
            # Warm up (connections, first imports, caches); not counted.
            await load(base_chat, args.concurrency, args.concurrency, post, telegram, None)
            started = time.perf_counter()
            await load(
                base_chat + args.concurrency,
                args.residents,
                args.concurrency,
                post,
                telegram,
                result,
            )
            result.seconds = time.perf_counter() - started
            if result.errors:
                print(f"{name}: {result.errors} steps failed; logs: {work}/{name}-*.log")
        finally:
            result.peak_rss_mb = max(peak_rss_mb(p.pid) for p in processes)
            for process in processes:
                process.terminate()
            for process in processes:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 20)
                if process.returncode is None:
                    process.kill()
    return result


async def main(args: argparse.Namespace) -> None:
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    if "aiogram" in wanted and importlib.util.find_spec("aiogram") is None:
        print("aiogram: not installed (pip install -e '.[bench]'); skipped")
        wanted.remove("aiogram")
    telegram = BenchTelegram()
    await telegram.start()
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            for number, name in enumerate(wanted):
                telegram.webhook_url = None
                results.append(
                    await measure(name, args, telegram, Path(directory), 1_000_000 * (number + 1))
                )
                telegram.calls.clear()
    finally:
        await telegram.stop()
    report(results, args)


def report(results: list[Result], args: argparse.Namespace) -> None:
    database = (args.database_url or "sqlite").split("://")[0]
    print(
        f"{args.residents} residents × {len(STEPS)} steps, {args.concurrency} at a time, "
        f"{database}, ours with {args.workers} worker(s); {os.cpu_count()} CPUs"
    )
    print(f"{'target':<9}{'updates/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'peak MB':>9}{'errors':>8}")
    for r in results:
        print(
            f"{r.name:<9}{r.rate:>10.0f}{r.percentile(0.5):>9.1f}{r.percentile(0.99):>9.1f}"
            f"{r.peak_rss_mb:>9.0f}{r.errors:>8}"
        )
    ours = next((r for r in results if r.name == "ours"), None)
    if ours is None:
        return
    for other in results:
        if other is not ours and other.rate:
            print(f"ours ÷ {other.name}: {ours.rate / other.rate:.2f}")
    frameworks = [r for r in results if r.name in ("ptb", "aiogram") and r.rate]
    if frameworks:
        best = max(frameworks, key=lambda r: r.rate)
        print(f"ours ÷ the better framework design ({best.name}): {ours.rate / best.rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--database-url", help="default: a fresh SQLite file per target")
    parser.add_argument("--workers", type=int, default=1, help="civicbot serve processes")
    parser.add_argument("--targets", default=",".join(TARGETS))
    asyncio.run(main(parser.parse_args()))
