"""How fast the core takes residents' messages, against the floor and two framework designs
measured in the same run on the same machine and database settings.

Residents go through the wish flow by webhook — `/start m-KEY`, a language button, `/change`,
a category button, the text — against a local fake Bot API. A step is done when the webhook
has said 200 and its answer has reached the fake. Two ways to offer the load:

- closed loop (the default): N residents, C at a time, each step sent when the last is done;
  prints the rate each target sustains;
- open loop (`--rate R`): residents arrive on a schedule, each taking its steps about
  `--think` seconds apart, so that one update is due every 1/R s from the first to the
  last whatever the target does; a step is sent when due (or, if its answer is late, when
  the answer comes), and its latency counts from when it was due, so a target falling
  behind shows it.

The harness is light so that it measures the targets, not itself: the load generator posts
pre-serialized JSON over keep-alive connections and the fake Bot API answers in the same
process, both on bench/light_http.py (about a tenth of a millisecond of CPU per update, the
system calls included). It prints its own CPU beside each target's, and how long each waited
for a CPU the machine gave to something else; the `echo` target (nothing kept) shows what
the harness itself can carry.

Targets, each its own process (`--targets`, comma-separated):

- ours: `civicbot serve` in webhook mode (`--workers N`: N of them on one database);
  each target on a fresh database (bench/databases.py: with `--database-url postgresql…`, a
  new database on that server, dropped afterwards);
- floor: aiohttp + the raw driver, one INSERT (group commit, WAL, synchronous=FULL) and one
  sendMessage per update, the 200 after the commit (bench/targets/floor.py);
- floor-commit-full, floor-commit-normal: the same, one commit per update, synchronous FULL
  or NORMAL;
- ptb: python-telegram-bot's canonical design, ConversationHandler + PicklePersistence
  (bench/targets/ptb_canonical.py);
- aiogram: aiogram 3's canonical design, Router + FSM in MemoryStorage, its webhook handler
  (bench/targets/aiogram_canonical.py) — when aiogram is installed (`pip install -e .[bench]`);
- floor-work: the floor doing our work — the statements ours runs for the flow (25 a
  resident) on our schema and the Bot API calls it makes, on the raw driver with our group
  commit, and nothing else (bench/targets/floor_work.py): what our stack costs over the
  driver doing the same job;
- extras: floor-sqlalchemy (the floor through a SQLAlchemy session, the old floor), echo (the
  harness's ceiling: a 200 and a sendMessage, nothing kept).

    .venv/bin/python bench/ingest.py [--residents 1000] [--concurrency 40] [--rate R]
        [--think 1.0] [--database-url URL] [--workers N] [--targets ours,floor,ptb,aiogram]
        [--against-sqlite] [--rounds K]

Prints updates/s, p50 and p99 step latency, peak RSS, errors, whether each design keeps every
update durably before answering, its CPU and the harness's, the Bot API calls it made per
update; then ours as a ratio of each (closed loop: of updates/s; open loop: of p99).
`--rounds K` runs it all K times, a report per round, the order of the targets reversed every
other round; then issue 27's goals over the rounds: ours ÷ each target and ÷ the better
framework design of each round, and ours' p99 (open loop: p50 and p99), as medians, and its
highest peak memory. One run is at the mercy of the machine's drift (here up to a third
within minutes); a median of rounds in alternating order is not.

`--against-sqlite` (closed loop, with a PostgreSQL --database-url; 4 rounds unless --rounds):
every round measures each of ours and the floors on PostgreSQL and on SQLite (one worker)
one after the other, and with `--workers N` > 1 ours with one worker on PostgreSQL too, so
that the machine's drift falls on both sides alike; other targets are skipped. Each round's
tables are printed as it ends; then, as the median of the rounds and each round's (a
measurement with errors left out): ours on PostgreSQL ÷ ours on SQLite, one worker each
(goal ≥ 0.6); each floor's own PostgreSQL ÷ SQLite; ours ÷ each floor on either database;
with N workers, ours with N ÷ ours with one (goal ≥ 1.5 for two) and both runs' mean CPU and
queued shares.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import fresh_database
from bench.light_http import Pool, get, request_head
from bench.light_telegram import LightTelegram
from tests.conftest import SECRET_KEY
from tests.fake_telegram import TOKEN

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret"
WEBHOOK = "/telegram/webhook"
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
FRAMEWORKS = ("ptb", "aiogram")  # the framework designs, against which ours aims at 3 ×


@dataclass(frozen=True)
class Design:
    script: str  # under bench/targets/; "" for `civicbot serve`
    options: tuple[str, ...]
    durable: str  # whether every update is kept durably before the bot answers
    database: bool = False  # bound by its database: measured on both with --against-sqlite


DESIGNS = {
    "ours": Design("", (), "yes", database=True),
    "floor": Design(
        "floor.py", ("--commit", "group", "--synchronous", "FULL"), "yes", database=True
    ),
    "floor-commit-full": Design(
        "floor.py", ("--commit", "each", "--synchronous", "FULL"), "yes", database=True
    ),
    "floor-commit-normal": Design(
        "floor.py", ("--commit", "each", "--synchronous", "NORMAL"), "yes*", database=True
    ),
    "floor-sqlalchemy": Design("floor_sqlalchemy.py", (), "yes", database=True),
    # The floor doing our work: its statements and Bot API calls, on the bare driver.
    "floor-work": Design("floor_work.py", (), "yes", database=True),
    # The conversation's state lives in a pickle written now and then / in memory.
    "ptb": Design("ptb_canonical.py", (), "no"),
    "aiogram": Design("aiogram_canonical.py", (), "no"),
    "echo": Design("echo.py", (), "no"),
}
FOOTNOTE = (
    "yes*: synchronous=NORMAL (SQLite) or synchronous_commit=off (PostgreSQL): a commit "
    "survives the process's crash, not the machine's"
)


class BotApi(Protocol):
    """What starting a target needs of a fake Bot API."""

    webhook_url: str | None

    @property
    def base_url(self) -> str: ...


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


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process (all its threads) has used so far."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def queued_seconds(pid: int) -> float:
    """How long the process's threads have been ready to run but waiting for a CPU (the
    machine busy with something else), by the scheduler's count."""
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


@dataclass
class Usage:
    """CPU used and CPU waited for, by the targets' processes and by the harness."""

    target_cpu: float = 0.0
    target_queued: float = 0.0
    harness_cpu: float = 0.0
    harness_queued: float = 0.0

    @classmethod
    def now(cls, pids: list[int]) -> Usage:
        return cls(
            sum(cpu_seconds(pid) for pid in pids),
            sum(queued_seconds(pid) for pid in pids),
            time.process_time(),
            queued_seconds(os.getpid()),
        )

    def __sub__(self, before: Usage) -> Usage:
        return Usage(
            self.target_cpu - before.target_cpu,
            self.target_queued - before.target_queued,
            self.harness_cpu - before.harness_cpu,
            self.harness_queued - before.harness_queued,
        )


@dataclass
class Result:
    name: str
    durable: str = ""
    updates: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # open loop: sent after it could be
    peak_rss_mb: float = 0.0
    errors: int = 0
    usage: Usage = field(default_factory=Usage)  # over the measured run
    calls: Counter[str] = field(default_factory=Counter)  # Bot API method -> calls, likewise

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    def percentile(self, share: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if values is None else values)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    def share(self, seconds: float) -> float:
        """Seconds as a percentage of the run (of one core, for CPU)."""
        return 100 * seconds / self.seconds if self.seconds else 0.0


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


@dataclass
class Resident:
    chat: int
    # Each step's body, serialized before the run; None for a button, whose data comes from
    # the keyboard the resident was shown.
    bodies: list[bytes | None]


def residents(first_chat: int, count: int) -> list[Resident]:
    return [
        Resident(
            chat,
            [
                json.dumps(message_update(chat, text)).encode() if kind == "text" else None
                for kind, text in STEPS
            ],
        )
        for chat in range(first_chat, first_chat + count)
    ]


@dataclass
class Target:
    """Where residents post (a pool of connections to its process or processes) and where
    its answers arrive."""

    pool: Pool
    head: bytes
    telegram: LightTelegram


async def walk(
    who: Resident, target: Target, result: Result | None, dues: list[float] | None = None
) -> None:
    """One resident through the flow; with `dues`, each step no earlier than its time, and
    its latency counted from it."""
    shown: dict[str, Any] | None = None
    done = 0.0
    for number, prepared in enumerate(who.bodies):
        if dues is None:
            started = time.perf_counter()
        else:
            started = dues[number]
            if started > time.perf_counter():
                await asyncio.sleep(started - time.perf_counter())
            if result is not None:
                result.lags.append(time.perf_counter() - max(started, done))
        body = prepared or json.dumps(button_update(who.chat, shown)).encode()
        try:
            status, response = await target.pool.exchange(target.head, body)
        except OSError:
            status = 0
        else:
            target.telegram.webhook_response(response)
        answers = await target.telegram.answers(who.chat)
        done = time.perf_counter()
        if result is not None:
            result.updates += 1
            result.latencies.append(done - started)
            result.errors += status != 200 or not answers
        keyboards = [a for a in answers if a.get("reply_markup")]
        shown = keyboards[-1] if keyboards else shown


async def closed_loop(
    people: list[Resident], concurrency: int, target: Target, result: Result | None
) -> None:
    waiting = iter(people)

    async def worker() -> None:
        for who in waiting:
            await walk(who, target, result)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def schedule(count: int, rate: float, think: float) -> list[list[float]]:
    """When each resident's steps are due, in seconds from the start: one update every
    1/`rate` s from the first to the last, a resident's steps about `think` s apart. Residents
    come in waves of about rate × think (as even as `count` allows): each of a wave takes its
    first step in turn, then each its second, and so on; the next wave starts when one has
    taken all its steps."""
    waves = max(1, math.ceil(count / max(1, round(rate * think))))
    dues = []
    first = 0
    for wave in range(waves):
        size = count // waves + (wave < count % waves)
        for i in range(size):
            offsets = [len(STEPS) * first + k * size + i for k in range(len(STEPS))]
            dues.append([offset / rate for offset in offsets])
        first += size
    return dues


async def open_loop(
    people: list[Resident], rate: float, think: float, target: Target, result: Result
) -> None:
    start = time.perf_counter()
    await asyncio.gather(
        *(
            walk(who, target, result, [start + due for due in dues])
            for who, dues in zip(people, schedule(len(people), rate, think), strict=True)
        )
    )


# --- the targets --------------------------------------------------------------------------


def command_for(name: str, port: int, database_url: str, api_base: str, work: Path) -> list[str]:
    python = sys.executable
    design = DESIGNS[name]
    if not design.script:
        return [python, "-m", "bot.commands.cli", "serve"]
    command = [python, str(ROOT / "bench" / "targets" / design.script), *design.options]
    command += ["--port", str(port), "--database-url", database_url]
    command += ["--api-base", api_base, "--token", TOKEN]
    if name == "ptb":
        command += ["--pickle", str(work / "ptb.pickle")]
    return command


async def start_process(
    name: str,
    port: int,
    database_url: str,
    telegram: BotApi,
    work: Path,
    extra_env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """`extra_env`: settings beyond the Telegram webhook's (bench/sms_signatures.py: SMS)."""
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
        **(extra_env or {}),
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
    name: str, port: int, telegram: BotApi, process: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise SystemExit(f"{name} exited with {process.returncode}; see its log")
        with contextlib.suppress(OSError, ValueError):
            if name != "ours":
                await get(port, "/")  # listening: whatever it answers
                return
            if await get(port, "/healthz") == 200 and telegram.webhook_url:
                return
        await asyncio.sleep(0.2)
    raise SystemExit(f"{name} did not start within a minute")


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 20)
        if process.returncode is None:
            process.kill()


async def measure(
    name: str, args: argparse.Namespace, telegram: LightTelegram, work: Path, base_chat: int
) -> Result:
    async with fresh_database(args.database_url, work, name) as database_url:
        return await measure_on(database_url, name, args, telegram, work, base_chat)


async def measure_on(
    database_url: str,
    name: str,
    args: argparse.Namespace,
    telegram: LightTelegram,
    work: Path,
    base_chat: int,
) -> Result:
    workers = args.workers if name == "ours" else 1
    ports = [free_port() for _ in range(workers)]
    processes = [await start_process(name, port, database_url, telegram, work) for port in ports]
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    pool = Pool(ports, limit=max(args.connections, args.concurrency))
    target = Target(pool, request_head("POST", WEBHOOK, ports[0], headers), telegram)
    result = Result(name, DESIGNS[name].durable)
    try:
        # Warm up (connections, first imports, caches); not counted.
        await closed_loop(residents(base_chat, args.concurrency), args.concurrency, target, None)
        people = residents(base_chat + args.concurrency, args.residents)
        pids = [p.pid for p in processes]
        before, calls = Usage.now(pids), telegram.calls.copy()
        started = time.perf_counter()
        if args.rate:
            await open_loop(people, args.rate, args.think, target, result)
        else:
            await closed_loop(people, args.concurrency, target, result)
        result.seconds = time.perf_counter() - started
        result.usage = Usage.now(pids) - before
        result.calls = telegram.calls - calls
        if result.errors:
            print(f"{name}: {result.errors} steps failed; logs: {work}/{name}-*.log")
    finally:
        pool.close()
        result.peak_rss_mb = max(peak_rss_mb(p.pid) for p in processes)
        await stop(processes)
    return result


DATABASE_BOUND = tuple(name for name, design in DESIGNS.items() if design.database)
FLOORS = tuple(name for name in DATABASE_BOUND if name != "ours")


@dataclass(frozen=True)
class Setting:
    """Where a measurement runs: the database (None: SQLite files) and our workers."""

    label: str  # its heading in the report ("": none)
    database_url: str | None
    workers: int

    def applied(self, args: argparse.Namespace) -> argparse.Namespace:
        """A copy of `args` with this setting's database and workers."""
        return argparse.Namespace(
            **{**vars(args), "database_url": self.database_url, "workers": self.workers}
        )


Round = dict[tuple[Setting, str], Result]  # (setting, target) -> its measurement


def chosen_targets(args: argparse.Namespace) -> list[str]:
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in DESIGNS]
    if unknown:
        raise SystemExit(f"unknown targets {unknown}; known: {', '.join(DESIGNS)}")
    if "aiogram" in wanted and importlib.util.find_spec("aiogram") is None:
        print("aiogram: not installed (pip install -e '.[bench]'); skipped")
        wanted.remove("aiogram")
    if args.against_sqlite:
        skipped = [t for t in wanted if t not in DATABASE_BOUND]
        if skipped:
            print(f"{', '.join(skipped)}: not database-bound; skipped with --against-sqlite")
        wanted = [t for t in wanted if t in DATABASE_BOUND]
        if not wanted:
            raise SystemExit(f"--against-sqlite: no target of {', '.join(DATABASE_BOUND)}")
    return wanted


def sqlite_settings(args: argparse.Namespace) -> tuple[Setting, Setting, Setting]:
    """--against-sqlite: PostgreSQL with our --workers; PostgreSQL with one worker (the
    first again when --workers is 1); SQLite, one worker."""
    postgresql = Setting("postgresql", args.database_url, args.workers)
    one = postgresql
    if args.workers > 1:
        one = Setting("postgresql, ours with 1 worker", args.database_url, 1)
    return postgresql, one, Setting("sqlite", None, 1)


def plan(wanted: list[str], args: argparse.Namespace, number: int) -> list[tuple[Setting, str]]:
    """Round `number`'s measurements in order, reversed every other round so that the
    machine's drift falls on all alike. --against-sqlite: each target on PostgreSQL and on
    SQLite one after the other."""
    if not args.against_sqlite:
        steps = [(Setting("", args.database_url, args.workers), name) for name in wanted]
    else:
        postgresql, one, sqlite = sqlite_settings(args)
        steps = []
        for name in wanted:
            steps.append((postgresql, name))
            if name == "ours" and one != postgresql:
                steps.append((one, name))
            steps.append((sqlite, name))
    return steps[::-1] if number % 2 == 0 else steps


async def main(args: argparse.Namespace) -> None:
    wanted = chosen_targets(args)
    telegram = LightTelegram(STEP_TIMEOUT)
    await telegram.start()
    rounds: list[Round] = []
    chats = itertools.count(1)
    try:
        with tempfile.TemporaryDirectory() as directory:
            for number in range(1, args.rounds + 1):
                work = Path(directory) / f"round-{number}"  # a fresh SQLite file each round
                work.mkdir()
                rounds.append({})
                for setting, name in plan(wanted, args, number):
                    telegram.webhook_url = None
                    rounds[-1][setting, name] = await measure(
                        name, setting.applied(args), telegram, work, 1_000_000 * next(chats)
                    )
                report_round(number, rounds[-1], wanted, args)  # kept if a later round fails
    finally:
        await telegram.stop()
    if telegram.unknown:
        print(f"Bot API methods not faked (answered 404): {dict(telegram.unknown)}")
    if args.against_sqlite:
        compare(rounds, wanted, args)
    elif args.rounds > 1 and "ours" in wanted:
        summarize(rounds, args)


def report_round(number: int, measured: Round, wanted: list[str], args: argparse.Namespace) -> None:
    """A round's report, a table per database (and per number of workers)."""
    for setting in dict.fromkeys(setting for setting, _ in plan(wanted, args, 1)):
        heading = [f"round {number}"] if args.rounds > 1 or args.against_sqlite else []
        heading += [setting.label] if setting.label else []
        if heading:
            print(f"\n{': '.join(heading)}")
        results = [measured[setting, n] for n in wanted if (setting, n) in measured]
        report(results, setting.applied(args))


def ratio(top: Result | None, bottom: Result | None) -> float | None:
    """Updates/s of one over the other; None when either is missing or had errors."""
    if top is None or bottom is None or top.errors or bottom.errors or not bottom.rate:
        return None
    return top.rate / bottom.rate


def ratios(
    rounds: list[Round], top: tuple[Setting, str], bottom: tuple[Setting, str]
) -> list[float | None]:
    """`ratio` of two measurements in each round."""
    return [ratio(measured.get(top), measured.get(bottom)) for measured in rounds]


def print_ratio(label: str, values: list[float | None], goal: str = "") -> None:
    counted = [v for v in values if v is not None]
    median = f"{statistics.median(counted):.2f}" if counted else "none"
    each = ", ".join("not compared" if v is None else f"{v:.2f}" for v in values)
    print(f"{label}: {median} (rounds: {each}){f'; {goal}' if goal else ''}")


def print_usage(label: str, results: list[Result]) -> None:
    """Mean CPU % and queued % over the rounds, of our processes and of the harness."""
    counted = [r for r in results if not r.errors]
    if not counted:
        return

    def mean(share: Callable[[Result], float]) -> float:
        return statistics.fmean(share(r) for r in counted)

    print(
        f"{label}: CPU {mean(lambda r: r.share(r.usage.target_cpu)):.0f} %, queued "
        f"{mean(lambda r: r.share(r.usage.target_queued)):.0f} %; harness CPU "
        f"{mean(lambda r: r.share(r.usage.harness_cpu)):.0f} %, queued "
        f"{mean(lambda r: r.share(r.usage.harness_queued)):.0f} % (of one core, mean of "
        f"{len(counted)} round(s); {os.cpu_count()} CPUs)"
    )


def summarize(rounds: list[Round], args: argparse.Namespace) -> None:
    """--rounds K (K > 1), without --against-sqlite: issue 27's goals over the rounds, each
    ratio and latency as the median of the rounds' and the peak memory as the highest."""
    setting = Setting("", args.database_url, args.workers)
    ours = [measured.get((setting, "ours")) for measured in rounds]
    kept = [r for r in ours if r is not None and not r.errors]

    def latency(share: float) -> list[float | None]:
        return [None if r is None or r.errors else r.percentile(share) for r in ours]

    print(f"\nOver {len(rounds)} rounds (order reversed every other round): medians")
    if args.rate:
        print_ratio("ours p50 ms", latency(0.5), "goal ≤ 5")
        print_ratio("ours p99 ms", latency(0.99), "goal ≤ 25")
        return
    others = dict.fromkeys(n for measured in rounds for (_, n) in measured)
    for name in [n for n in others if n not in ("ours", "echo")]:
        print_ratio(
            f"ours ÷ {name}",
            ratios(rounds, (setting, "ours"), (setting, name)),
            "goal ≥ 0.5" if name == "floor" else "",
        )
    if others.keys() & set(FRAMEWORKS):
        print_ratio(
            "ours ÷ the better framework design (of that round)",
            [ratio(r.get((setting, "ours")), better_framework(r.values())) for r in rounds],
            "goal ≥ 3",
        )
    print_ratio("ours p99 ms", latency(0.99), "goal ≤ 100")
    if kept:
        peaks = ", ".join(f"{r.peak_rss_mb:.0f}" for r in kept)
        most = max(r.peak_rss_mb for r in kept)
        print(f"ours peak MB: {most:.0f} at most (rounds: {peaks}); goal ≤ 110")


def better_framework(results: Iterable[Result | None]) -> Result | None:
    """The faster of the framework designs among `results`, those with errors left out."""
    designs = [r for r in results if r is not None and r.name in FRAMEWORKS]
    return max((r for r in designs if not r.errors and r.rate), key=lambda r: r.rate, default=None)


def compare(rounds: list[Round], wanted: list[str], args: argparse.Namespace) -> None:
    """--against-sqlite: PostgreSQL over SQLite, ours over the floors, N workers over one;
    each as the median over the rounds, a measurement with errors left out."""
    postgresql, one, sqlite = sqlite_settings(args)
    ours = "ours" if one == postgresql else "ours with 1 worker"
    floors = [name for name in wanted if name in FLOORS]
    print(
        f"\nPostgreSQL against SQLite, interleaved (order reversed every other round): "
        f"the median of {len(rounds)} round(s)"
    )
    if "ours" in wanted:
        print_ratio(
            f"{ours} on PostgreSQL ÷ ours on SQLite",
            ratios(rounds, (one, "ours"), (sqlite, "ours")),
            "goal ≥ 0.6",
        )
    for floor in floors:
        print_ratio(
            f"{floor} on PostgreSQL ÷ {floor} on SQLite",
            ratios(rounds, (postgresql, floor), (sqlite, floor)),
        )
    for floor in floors if "ours" in wanted else []:
        print_ratio(
            f"{ours} on PostgreSQL ÷ {floor} on PostgreSQL",
            ratios(rounds, (one, "ours"), (postgresql, floor)),
        )
        print_ratio(
            f"ours on SQLite ÷ {floor} on SQLite", ratios(rounds, (sqlite, "ours"), (sqlite, floor))
        )
    if "ours" in wanted and one != postgresql:
        workers = postgresql.workers
        print_ratio(
            f"ours with {workers} workers ÷ ours with 1 worker (PostgreSQL)",
            ratios(rounds, (postgresql, "ours"), (one, "ours")),
            "goal ≥ 1.5" if workers == 2 else "goal ≥ 1.5 for 2 workers",
        )
        for setting in (postgresql, one):
            print_usage(
                f"ours with {setting.workers} worker(s) on PostgreSQL",
                [measured[setting, "ours"] for measured in rounds],
            )


def report(results: list[Result], args: argparse.Namespace) -> None:
    database = (args.database_url or "sqlite").split("://")[0]
    load = (
        f"open loop, {args.rate:g} updates/s offered (steps {args.think:g} s apart), "
        "latency from when each step was due"
        if args.rate
        else f"closed loop, {args.concurrency} at a time"
    )
    print(
        f"{args.residents} residents × {len(STEPS)} steps, {load}; {database}, ours with "
        f"{args.workers} worker(s); {os.cpu_count()} CPUs"
    )
    print(
        f"{'target':<20}{'updates/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'peak MB':>9}"
        f"{'errors':>8}{'durable':>9}{'CPU %':>7}{'queued %':>10}{'harness CPU %':>15}"
        f"{'queued %':>10}"
    )
    for r in results:
        u = r.usage
        print(
            f"{r.name:<20}{r.rate:>10.0f}{r.percentile(0.5):>9.1f}{r.percentile(0.99):>9.1f}"
            f"{r.peak_rss_mb:>9.0f}{r.errors:>8}{r.durable:>9}{r.share(u.target_cpu):>7.0f}"
            f"{r.share(u.target_queued):>10.0f}{r.share(u.harness_cpu):>15.0f}"
            f"{r.share(u.harness_queued):>10.0f}"
        )
    print(
        "CPU %: of one core over the run (all the process's threads); queued %: the time its "
        "threads were ready to run but waited for a CPU (the machine busy elsewhere)"
    )
    for r in results:
        made = ", ".join(f"{m} {n / r.updates:.2f}" for m, n in r.calls.most_common() if r.updates)
        late = (
            f"; the harness sent its steps late by p99 {r.percentile(0.99, r.lags):.1f} ms, "
            f"at worst {max(r.lags, default=0.0) * 1000:.1f} ms"
            if args.rate
            else ""
        )
        print(f"{r.name}: Bot API calls per update: {made}{late}")
    if any(r.durable.endswith("*") for r in results):
        print(FOOTNOTE)
    ours = next((r for r in results if r.name == "ours"), None)
    if ours is None:
        return
    others = [r for r in results if r.name not in ("ours", "echo")]  # echo is no design
    for failed in [r for r in others if r.errors]:  # a stalled run's rate would flatter ours
        print(f"{failed.name}: not compared ({failed.errors} steps failed); run it again")
    others = [r for r in others if not r.errors]
    if args.rate:
        for other in others:
            if other.latencies:
                ratio = ours.percentile(0.99) / other.percentile(0.99)
                print(f"ours p99 ÷ {other.name} p99: {ratio:.2f}")
        return
    for other in others:
        if other.rate:
            print(f"ours ÷ {other.name}: {ours.rate / other.rate:.2f}")
    best = better_framework(others)
    if best is not None:
        print(f"ours ÷ the better framework design ({best.name}): {ours.rate / best.rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=40, help="closed loop: at a time")
    parser.add_argument("--rate", type=float, help="open loop: updates offered a second")
    parser.add_argument("--think", type=float, default=1.0, help="open loop: s between steps")
    parser.add_argument("--connections", type=int, default=256, help="open loop: at most")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL: a fresh database per target made on its server; default: SQLite files",
    )
    parser.add_argument("--workers", type=int, default=1, help="civicbot serve processes")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"of {', '.join(DESIGNS)}")
    parser.add_argument(
        "--against-sqlite",
        action="store_true",
        help="with a PostgreSQL --database-url: each database-bound target on it and on SQLite "
        "in turn, every round, and their ratios",
    )
    parser.add_argument(
        "--rounds", type=int, help="runs of every target (default 1; 4 with --against-sqlite)"
    )
    arguments = parser.parse_args()
    if arguments.against_sqlite:
        if not (arguments.database_url or "").startswith("postgresql"):
            parser.error("--against-sqlite needs a PostgreSQL --database-url (postgresql…)")
        if arguments.rate:
            parser.error("--against-sqlite measures the closed loop only: leave out --rate")
    if arguments.rounds is None:
        arguments.rounds = 4 if arguments.against_sqlite else 1
    if arguments.rounds < 1:
        parser.error("--rounds: at least 1")
    asyncio.run(main(arguments))
