"""How fast signatures come in through the SMS webhook, on the wire: `civicbot serve` as a
process with SMS on through Twilio, and N signature SMS (КОЛ <code> <PIN> <name>, as
bench/signatures.py builds them, each from its own phone, every hundredth PIN given again
under another name) posted to `POST /sms/twilio` as Twilio posts them, signed
(X-Twilio-Signature), C at a time, each sent when the last is answered (closed loop).

A post counts when it got its 200; the answer to a Twilio SMS is the TwiML in that 200, so
a signature's reply counts as received when the TwiML carries a message — or, should a
reply ever go through the outbox instead, when a local fake of Twilio's Messages API has
received one for that phone (waited for at the end, bounded). The load generator and the
fake Twilio (and the fake Bot API the server also starts against) run in this process on
bench/light_http.py, so that the harness costs little CPU; bench/ingest.py's helpers start,
watch and stop the server.

    .venv/bin/python bench/sms_signatures.py [--count 20000] [--concurrency 50]
        [--database-url URL]

Prints signatures/s over the posts, p50/p99 post latency, the server's and the harness's
CPU, the server's peak RSS, the replies received, and the time 300,000 would take; then,
with the server stopped, checks from the database that the count is exact
(bench/signatures.py's check). The database is fresh (bench/databases.py): a SQLite file in
a temporary folder, or with `--database-url postgresql…` a new database on that server,
dropped afterwards; a SQLite URL given must name an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import fresh_database
from bench.ingest import Usage, free_port, peak_rss_mb, start_process, stop
from bench.light_http import LightServer, Pool, Reply, Request, request_head
from bench.light_telegram import LightTelegram
from bench.signatures import add_initiative, count_signatures, phone_of, signature_of
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from tests.conftest import SECRET_KEY
from tests.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, signature

WEBHOOK = "/sms/twilio"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json".encode()
REPLY_WAIT = 30.0  # seconds, at most, for replies sent through the outbox after the posts
GOAL_COUNT, GOAL_MINUTES = 300_000, 5.0  # issue 27


class LightTwilio(LightServer):
    """Twilio's POST …/Messages.json, as the outbox calls it: 201 at once, messages counted
    by the phone they go to."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.refused = 0  # anything else asked of it (answered 404)
        self._sids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, request: Request) -> Reply:
        if request.method != b"POST" or request.target != MESSAGES:
            self.refused += 1
            return 404, b'{"code":20404,"status":404}'
        form = dict(parse_qsl(request.body.decode()))
        to = form.get("To", "")
        self.sent[to] += 1
        answer = {
            "sid": f"SM{next(self._sids):032x}",
            "status": "queued",
            "to": to,
            "from": form.get("From", ""),
            "account_sid": ACCOUNT_SID,
        }
        return 201, json.dumps(answer).encode()


@dataclass
class Run:
    posts: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    answered: set[str] = field(default_factory=set)  # phones whose TwiML carried a reply

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0


@dataclass(frozen=True)
class Post:
    phone: str
    head: bytes  # up to Content-Length (light_http's Pool adds it)
    body: bytes


def signed_post(number: int, port: int, public_base_url: str) -> Post:
    """Signer `number`'s SMS as Twilio posts it, serialized before the run."""
    form = {
        "MessageSid": f"SM{number:032x}",
        "AccountSid": ACCOUNT_SID,
        "From": phone_of(number),
        "To": FROM_NUMBER,
        "Body": f"КОЛ {signature_of(number)}",
        "NumMedia": "0",
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(public_base_url + WEBHOOK, form, AUTH_TOKEN),
    }
    head = request_head("POST", WEBHOOK, port, headers)
    return Post(form["From"], head, urlencode(form).encode())


async def post_all(pool: Pool, posts: list[Post], concurrency: int, run: Run) -> None:
    """Each post sent once, `concurrency` at a time, each when the last is answered."""
    waiting = iter(posts)

    async def sender() -> None:
        for post in waiting:
            started = time.perf_counter()
            try:
                status, answer = await pool.exchange(post.head, post.body)
            except OSError:
                status, answer = 0, b""
            run.latencies.append(time.perf_counter() - started)
            run.statuses[status] += 1
            run.posts += 1
            if status == 200 and b"<Message>" in answer:
                run.answered.add(post.phone)

    await asyncio.gather(*(sender() for _ in range(concurrency)))


async def wait_for_replies(phones: set[str], answered: set[str], twilio: LightTwilio) -> set[str]:
    """The phones with no reply yet in their TwiML nor through the fake Twilio, once every
    one has one or REPLY_WAIT has passed."""
    deadline = time.monotonic() + REPLY_WAIT
    while True:
        missing = {p for p in phones - answered if not twilio.sent[p]}
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.2)


async def seed(database_url: str, threshold: int) -> None:
    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    try:
        await add_initiative(db, threshold)
    finally:
        await db.close()


async def main(args: argparse.Namespace, work: Path) -> None:
    async with fresh_database(args.database_url, work, "sms-signatures") as database_url:
        await measure(database_url, args, work)


async def measure(database_url: str, args: argparse.Namespace, work: Path) -> None:
    warm = args.concurrency  # the first signers, before the clock starts
    numbers = range(warm + args.count)
    await seed(database_url, threshold=len(numbers))
    telegram, twilio = LightTelegram(30.0), LightTwilio()
    await telegram.start()
    await twilio.start()
    port = free_port()
    public = f"http://127.0.0.1:{port}"  # PUBLIC_BASE_URL, as bench/ingest.py sets it
    sms = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": twilio.base_url,
    }
    posts = [signed_post(n, port, public) for n in numbers]
    server = await start_process("ours", port, database_url, telegram, work, sms)
    pool = Pool([port], limit=args.concurrency)
    run, warmup = Run(), Run()
    try:
        await post_all(pool, posts[:warm], args.concurrency, warmup)
        before = Usage.now([server.pid])
        started = time.perf_counter()
        await post_all(pool, posts[warm:], args.concurrency, run)
        run.seconds = time.perf_counter() - started
        usage = Usage.now([server.pid]) - before
        phones = {post.phone for post in posts}
        missing = await wait_for_replies(phones, run.answered | warmup.answered, twilio)
    finally:
        pool.close()
        peak = peak_rss_mb(server.pid)
        await stop([server])
        await twilio.stop()
        await telegram.stop()
    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    try:
        count = await count_signatures(db, numbers)
    finally:
        await db.close()
    report(args, database_url, run, warmup, usage, peak, twilio, missing)
    count.report()
    failed = sum(n for status, n in (run.statuses + warmup.statuses).items() if status != 200)
    if failed or not count.exact or missing:
        log = (work / f"ours-{port}.log").read_text(errors="replace").splitlines()
        print("the server's log, its last lines:", *log[-40:], sep="\n")
    if failed:
        raise SystemExit(f"{failed} posts not answered 200")
    if not count.exact or missing:
        raise SystemExit("the count is not exact" if not count.exact else "replies missing")


def report(
    args: argparse.Namespace,
    database_url: str,
    run: Run,
    warmup: Run,
    usage: Usage,
    peak: float,
    twilio: LightTwilio,
    missing: set[str],
) -> None:
    rate = run.posts / run.seconds if run.seconds else 0.0
    share = 100 / run.seconds if run.seconds else 0.0
    goal = GOAL_COUNT / rate / 60 if rate else float("inf")
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted((run.statuses + warmup.statuses).items()))
    print(
        f"database: {database_url.split('://')[0]}; {args.count} signature SMS "
        f"(+{len(warmup.latencies)} warm-up, not timed), {args.concurrency} at a time, "
        "signed posts to /sms/twilio"
    )
    print(f"signing:  {run.posts} in {run.seconds:.1f} s = {rate:.0f} signatures/s")
    print(f"latency:  p50 {run.percentile(0.5):.1f} ms, p99 {run.percentile(0.99):.1f} ms")
    print(
        f"CPU:      server {usage.target_cpu * share:.0f} % of a core (waited for one "
        f"{usage.target_queued * share:.0f} %), harness {usage.harness_cpu * share:.0f} % "
        f"(waited {usage.harness_queued * share:.0f} %)"
    )
    print(f"peak RSS: server {peak:.0f} MB")
    print(f"statuses: {statuses}")
    print(
        f"replies:  {len(run.answered | warmup.answered)} in the TwiML, "
        f"{sum(twilio.sent.values())} through the fake Twilio, {len(missing)} phones without"
        + (f"; {twilio.refused} other calls to it" if twilio.refused else "")
    )
    verdict = "under" if goal < GOAL_MINUTES else "NOT under"
    print(f"{GOAL_COUNT:,} signatures would take {goal:.1f} minutes: {verdict} {GOAL_MINUTES:g}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50, help="posts at once")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL: a fresh database made on its server; default: a fresh SQLite file",
    )
    arguments = parser.parse_args()
    if arguments.count < 1 or arguments.concurrency < 1:
        parser.error("--count and --concurrency must be at least 1")
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(main(arguments, Path(directory)))
