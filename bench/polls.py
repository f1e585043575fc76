"""One poll to N residents — 60% Telegram, 30% SMS, 10% WhatsApp — sent by `civicbot serve`
against fakes that enforce the channels' limits: the tests' fake Bot API answering 429 past
30 messages a second (Telegram's broadcast limit), and the tests' fake Twilio answering 429
past 10 a second (the pace we keep to Twilio, SMS and WhatsApp together: TWILIO_SEND_RATE).

Prints each channel's send rate ÷ its limit, duplicates (a person given the poll twice),
lost (planned, never delivered), failed rows, and the server's peak RSS. With --kill-half
the server is killed (SIGKILL) once half the rows are settled and started again: its claims
are aged past their lease (as ten minutes would: the bench does not wait them out) and the
new server sends the rest. Then each Telegram resident answers by webhook (a press of the
poll's button, `poll:CODE:n`) and the answers kept are tallied against those given.

    .venv/bin/python bench/polls.py [--residents 2000] [--kill-half] [--answers N]
    .venv/bin/python bench/polls.py --residents 100000   # about 70 minutes: SMS at 10/s

SQLite in a temporary folder (or --database-url postgresql+asyncpg://…: a fresh database made
on that server and dropped afterwards, bench/databases.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import fresh_database
from bench.ingest import SECRET, cpu_seconds, free_port, peak_rss_mb, queued_seconds, start_process
from bench.ingest import stop as stop_processes
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from storage import queries
from storage.db import Database
from storage.models import Conversation, Person, PollAnswer, PollSend, utcnow
from storage.queries.poll_sends import LEASE
from tests.conftest import SECRET_KEY
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import _over as over_limit
from tests.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, WHATSAPP_FROM, FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
PLACE = "tokmok"
TELEGRAM_LIMIT, TWILIO_LIMIT = 30, 10  # a second
SHARES = (("telegram", 0.6), ("sms", 0.3), ("whatsapp", 0.1))
FIRST_CHAT = 50_000_000
SETTLE_TIMEOUT = 4 * 3600.0  # seconds: the 100,000 run's SMS take over an hour


@dataclass
class PacedTwilio(FakeTwilio):
    """The tests' fake Twilio, answering 429 past `rate` messages a second, and keeping when
    each message was taken."""

    rate: int = TWILIO_LIMIT
    taken_at: list[float] = field(default_factory=list)
    too_many: int = 0

    def __post_init__(self) -> None:
        self._recent: deque[float] = deque()

    async def _create(self, request: web.Request) -> web.Response:
        if over_limit(self._recent, self.rate):
            self.too_many += 1
            body = {"status": 429, "message": "Too Many Requests", "code": 20429}
            return web.json_response(body, status=429)
        response = await super()._create(request)
        if response.status == 201:
            self.taken_at.append(time.monotonic())
        return response


@dataclass
class TimedTelegram(FakeTelegram):
    """The tests' fake Bot API, keeping when each message was taken."""

    taken_at: list[float] = field(default_factory=list)

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super()._sendMessage(params)
        if response.status == 200:
            self.taken_at.append(time.monotonic())
        return response


def rate_of(moments: list[float]) -> float:
    if len(moments) < 2:
        return 0.0
    return (len(moments) - 1) / (moments[-1] - moments[0])


# --- the database: residents and the poll --------------------------------------------------


async def prepare(
    database_url: str, count: int, answers_only: bool = False
) -> tuple[str, dict[str, int]]:
    """Migrate, add `count` residents of PLACE by the shares, a poll, and its sending
    planned (as `civicbot poll send --yes` plans it). The poll's code, residents by channel.
    `answers_only`: every resident on Telegram, and the poll counted as sent, not sent."""
    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    shares = (("telegram", 1.0),) if answers_only else SHARES
    sizes = {name: int(count * share) for name, share in shares}
    sizes["telegram"] += count - sum(sizes.values())
    try:
        async with db.session() as session, session.begin():
            place = await queries.municipality_by_key(session, PLACE)
            assert place is not None
            for channel, size in sizes.items():
                for start in range(0, size, 5000):
                    rows = [
                        {
                            "channel": channel,
                            "channel_user_id": user_id(channel, n),
                            "language": ("ky", "ru", "en")[n % 3],
                            "municipality_id": place.id,
                            "opted_out": False,
                            "language_confirmed": True,
                        }
                        for n in range(start, min(start + 5000, size))
                    ]
                    await session.execute(insert(Person), rows)
            # Each with a conversation, as everyone who has talked to the bot has (without
            # one, a first answer took the path of a new sender).
            people = (await session.scalars(select(Person.id))).all()
            for start in range(0, len(people), 5000):
                chunk = people[start : start + 5000]
                states: list[dict[str, Any]] = [
                    {"person_id": who, "data": {}, "nonce": ""} for who in chunk
                ]
                await session.execute(insert(Conversation), states)
            poll = await queries.add_poll(
                session,
                place.id,
                {"ky": "Кайсы көчөнү биринчи оңдоо керек?", "ru": "Какую улицу чинить первой?"},
                [{"label_ky": "Ленин көчөсү"}, {"label_ky": "Токтогул көчөсү"}],
                utcnow() + dt.timedelta(days=7),
                status="open",
                sent_at=utcnow(),
            )
            if not answers_only:
                await queries.plan_sends(session, poll, ("sms",), utcnow())
            return poll.code, sizes
    finally:
        await db.close()


def user_id(channel: str, n: int) -> str:
    if channel == "telegram":
        return str(FIRST_CHAT + n)
    return f"+9967{n:08d}" if channel == "sms" else f"+9965{n:08d}"


async def statuses(db: Database) -> Counter[str]:
    async with db.session() as session:
        rows = (
            await session.execute(select(PollSend.status, func.count()).group_by(PollSend.status))
        ).all()
    return Counter({status: int(count) for status, count in rows})


async def age_claims(db: Database) -> int:
    """The killed server's claims, aged past their lease: what ten minutes would do."""
    async with db.session() as session, session.begin():
        result = await session.execute(
            update(PollSend)
            .where(PollSend.status == "pending", PollSend.claimed_at.is_not(None))
            .values(claimed_at=utcnow() - LEASE - dt.timedelta(seconds=1))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


# --- the server ----------------------------------------------------------------------------


async def start_server(
    port: int, database_url: str, telegram: FakeTelegram, twilio: FakeTwilio, work: Path
) -> asyncio.subprocess.Process:
    """`civicbot serve` as bench/ingest.py starts it, with SMS and WhatsApp on the fake Twilio."""
    twilio_env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_WHATSAPP_CONTENT_SID": "HX00000000000000000000000000000000",
        "TWILIO_API_BASE_URL": twilio.base_url,
    }
    return await start_process("ours", port, database_url, telegram, work, twilio_env)


async def stop(process: asyncio.subprocess.Process) -> None:
    await stop_processes([process])


# --- answers by webhook --------------------------------------------------------------------


async def answer(
    port: int, code: str, chats: list[int], again: bool = False, concurrency: int = 20
) -> Counter[int]:
    """Each chat presses option 1 or 2 of the poll's message (`again`: the other one, a
    change); the choices given."""
    given: Counter[int] = Counter()
    queue = list(enumerate(chats))
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}

    async def worker(http: aiohttp.ClientSession) -> None:
        while queue:
            n, chat = queue.pop()
            choice = 1 + (n + again) % 2
            user = {"id": chat, "is_bot": False, "first_name": "R"}
            update = {
                "update_id": 900_000_000 + n + again * len(chats),
                "callback_query": {
                    "id": f"{n}-{again}",
                    "from": user,
                    "chat_instance": str(chat),
                    "data": f"poll:{code}:{choice}",
                    "message": {
                        "message_id": 1,
                        "date": int(time.time()),
                        "chat": {"id": chat, "type": "private"},
                        "text": "poll",
                    },
                },
            }
            async with http.post(url, data=json.dumps(update), headers=headers) as response:
                if response.status == 200:
                    given[choice] += 1

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return given


async def tallied(db: Database) -> Counter[str]:
    async with db.session() as session:
        rows = (
            await session.execute(
                select(PollAnswer.choices, func.count()).group_by(PollAnswer.choices)
            )
        ).all()
    return Counter({choices: int(count) for choices, count in rows})


# --- the run -------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-polls-"))
    async with fresh_database(args.database_url, work, "bench") as database_url:
        await run_on(database_url, args, work)


async def run_on(database_url: str, args: argparse.Namespace, work: Path) -> None:
    print(f"preparing {args.residents} residents and the poll ({database_url})", flush=True)
    code, sizes = await prepare(database_url, args.residents, args.answers_only)
    telegram = TimedTelegram(rate_limit=TELEGRAM_LIMIT)
    twilio = PacedTwilio()
    await telegram.start()
    await twilio.start()
    db = Database(database_url)
    port = free_port()
    rss: list[float] = []
    started = time.monotonic()
    server = await start_server(port, database_url, telegram, twilio, work)
    killed = False
    try:
        while True:
            counts = await statuses(db)
            if not counts["pending"]:
                break
            if args.kill_half and not killed and counts["pending"] <= args.residents / 2:
                rss.append(peak_rss_mb(server.pid))
                server.kill()  # SIGKILL: no chance to finish or release anything
                await server.wait()
                killed = True
                aged = await age_claims(db)
                print(f"killed at {dict(counts)}; {aged} claims aged past the lease", flush=True)
                server = await start_server(port, database_url, telegram, twilio, work)
            if time.monotonic() - started > SETTLE_TIMEOUT:
                raise SystemExit(f"not settled within {SETTLE_TIMEOUT:.0f} s: {dict(counts)}")
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        counts = await statuses(db)
        sending = Sending.of(telegram, twilio)  # before the answers' own replies
        if not args.answers_only:  # said now: a 100,000 run has its answers still to come
            print_sending(counts, elapsed, sending, sum(sizes.values()), killed)
            rss.append(peak_rss_mb(server.pid))
            print(f"peak RSS of the server while sending: {max(rss):.0f} MB", flush=True)
        chats = [FIRST_CHAT + n for n in range(args.answers or sizes["telegram"])]
        if args.answers_unpaced:  # what the server alone can do, Telegram's 30/s aside
            telegram.rate_limit = None
        # First answers (each followed by a closing question), then each one changed.
        print(f"sent; {len(chats)} answers by webhook to the server (pid {server.pid})", flush=True)
        passes = [
            await answering(port, code, chats, telegram, db, again, server.pid) for again in (0, 1)
        ]
        rss.append(peak_rss_mb(server.pid))
    finally:
        await stop(server)
        await db.close()
        await telegram.stop()
        await twilio.stop()
    report(sizes, counts, elapsed, sending, passes, max(rss), killed, args.answers_only)


@dataclass(frozen=True)
class Pass:
    """One round of presses by webhook: the choices given, how long it took (each 200 only
    once committed), the server's CPU meanwhile and the time it waited for a CPU (these
    cores are shared), what the fake Bot API took meanwhile, and the answers then kept."""

    given: Counter[int]
    seconds: float
    cpu: float
    queued: float
    replies: Replies
    kept: Counter[str]
    followed: FollowUps | None  # first answers' closing questions, once all went


@dataclass(frozen=True)
class FollowUps:
    """The closing questions that follow first answers, which no webhook waits for: the
    chats that got one, those that got more than one, and when the last went (seconds after
    the pass, at the broadcast pace)."""

    chats: int
    twice: int
    after: float


async def answering(
    port: int,
    code: str,
    chats: list[int],
    telegram: TimedTelegram,
    db: Database,
    again: int,
    pid: int,
) -> Pass:
    calls_before, too_many_before = len(telegram.calls), telegram.too_many
    cpu, queued = cpu_seconds(pid), queued_seconds(pid)
    started = time.monotonic()
    given = await answer(port, code, chats, bool(again))
    seconds = time.monotonic() - started
    cpu, queued = cpu_seconds(pid) - cpu, queued_seconds(pid) - queued
    replies = Replies.of(telegram, calls_before, too_many_before)
    name = "changed answers" if again else "first answers"
    print(f"{name}: {len(chats)} in {seconds:.1f} s, {len(chats) / seconds:.0f}/s", flush=True)
    followed = None if again else await follow_ups(telegram, calls_before, chats)
    await asyncio.sleep(1.0)
    return Pass(given, seconds, cpu, queued, replies, await tallied(db), followed)


async def follow_ups(telegram: TimedTelegram, since: int, chats: list[int]) -> FollowUps:
    """Wait until each chat has had a message since call `since` (its closing question),
    for at most what the broadcast pace needs for all of them, twice over."""
    ended, wanted = time.monotonic(), set(chats)
    deadline = ended + 2 * len(chats) / TELEGRAM_LIMIT + 30
    while True:
        sent = Counter(
            int(c.params["chat_id"])
            for c in telegram.calls[since:]
            if c.method == "sendMessage" and c.ok
        )
        if len(sent.keys() & wanted) == len(wanted) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    last = telegram.taken_at[-1] if telegram.taken_at else ended
    twice = sum(1 for chat, n in sent.items() if n > 1 and chat in wanted)
    return FollowUps(len(sent.keys() & wanted), twice, max(0.0, last - ended))


@dataclass(frozen=True)
class Sending:
    """What the fakes took while the poll was sent."""

    chats: Counter[int]
    phones: Counter[str]
    telegram_rate: float
    twilio_rate: float
    telegram_429: int
    twilio_429: int

    @classmethod
    def of(cls, telegram: TimedTelegram, twilio: PacedTwilio) -> Sending:
        sends = [c for c in telegram.called("sendMessage") if c.ok]
        return cls(
            Counter(int(c.params["chat_id"]) for c in sends),
            Counter(m["To"] for m in twilio.sent),
            rate_of(telegram.taken_at),
            rate_of(twilio.taken_at),
            telegram.too_many,
            twilio.too_many,
        )


@dataclass(frozen=True)
class Replies:
    """What the fake Bot API took while the answers came: chat messages (under the 30 a
    second), answerCallbackQuery calls (toasts: not), and the 429s."""

    messages: int
    toasts: int
    too_many: int

    @classmethod
    def of(cls, telegram: TimedTelegram, since: int, too_many_before: int) -> Replies:
        calls = telegram.calls[since:]
        toasts = [c for c in calls if c.method == "answerCallbackQuery" and c.params.get("text")]
        return cls(
            sum(1 for c in calls if c.method == "sendMessage" and c.ok),
            len(toasts),
            telegram.too_many - too_many_before,
        )


def report(
    sizes: dict[str, int],
    counts: Counter[str],
    elapsed: float,
    sending: Sending,
    passes: list[Pass],
    rss: float,
    killed: bool,
    answers_only: bool,
) -> None:
    planned = sum(sizes.values())
    print(f"\n{planned} residents: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    if not answers_only:
        print_sending(counts, elapsed, sending, planned, killed)  # again, with the rest
    for name, done in zip(("first answers", "changed answers"), passes, strict=True):
        print_pass(name, done)
    print(f"peak RSS of the server: {rss:.0f} MB")


def print_sending(
    counts: Counter[str], elapsed: float, sending: Sending, planned: int, killed: bool
) -> None:
    delivered = {**{str(k): v for k, v in sending.chats.items()}, **sending.phones}
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    lost = planned - len(delivered)
    tg_rate, tw_rate = sending.telegram_rate, sending.twilio_rate
    print(f"settled in {elapsed:.1f} s{' (killed half-way, restarted)' if killed else ''}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))  # fmt: skip
    print(
        f"telegram: {sum(sending.chats.values())} sent, {tg_rate:.1f}/s = "
        f"{tg_rate / TELEGRAM_LIMIT:.2f} of its {TELEGRAM_LIMIT}/s; 429s {sending.telegram_429}"
    )
    whatsapp = sum(n for to, n in sending.phones.items() if to.startswith("whatsapp:"))
    print(
        f"twilio (SMS {sum(sending.phones.values()) - whatsapp} + WhatsApp {whatsapp}): "
        f"{tw_rate:.1f}/s = {tw_rate / TWILIO_LIMIT:.2f} of its {TWILIO_LIMIT}/s; "
        f"429s {sending.twilio_429}"
    )
    print(f"duplicates {duplicates}, lost {lost}, failed {counts.get('failed', 0)}")


def print_pass(name: str, done: Pass) -> None:
    given, replies = done.given, done.replies
    answers = sum(given.values())
    exact = {str(k): v for k, v in given.items()} == dict(done.kept)
    rate = answers / done.seconds if done.seconds else 0.0
    print(
        f"{name} by webhook: {answers} given, {sum(done.kept.values())} kept, tallied "
        f"exactly: {exact}; {done.seconds:.1f} s: {rate:.0f}/s, so 20,000 would take "
        f"{20_000 / rate if rate else float('inf'):.0f} s (goal: under 60)"
    )
    print(
        f"  the server's CPU: {done.cpu / answers * 1000 if answers else 0:.2f} ms an answer "
        f"({done.cpu:.1f} s), {done.queued:.1f} s waiting for a CPU"
    )
    print(
        f"  their replies: {replies.messages} messages, {replies.toasts} toasts "
        f"(answerCallbackQuery with a text), 429s {replies.too_many}"
    )
    if done.followed is not None:
        followed = done.followed
        print(
            f"  closing questions (followed, not waited for): {followed.chats} of "
            f"{answers} chats, {followed.twice} more than once, the last "
            f"{followed.after:.0f} s after the pass"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=2000, help="(2000)")
    parser.add_argument("--kill-half", action="store_true", help="kill -9 half-way, restart")
    parser.add_argument("--answers", type=int, help="Telegram residents who answer (all)")
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument(
        "--answers-only", action="store_true", help="every resident on Telegram, the poll "
        "counted as sent without sending it: the answers alone"
    )  # fmt: skip
    parser.add_argument(
        "--answers-unpaced", action="store_true", help="the fake Bot API without its 30/s limit "
        "while the answers come (the server's own rate)"
    )  # fmt: skip
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
