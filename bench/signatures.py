"""How fast signatures go through the handlers: 10,000 SMS signatures (КОЛ <code> <PIN>
<name>) to one initiative, each from its own phone, 50 phones at once, through
`handlers.dispatch.handle` on a real database — de-duplication, keyed hashes, flood limits,
sealing and the counter
included. The baseline, measured in the same run on the same database, is the simplest
thing the bot does: a one-message wish (ӨЗГӨРТ <text>).

    .venv/bin/python bench/signatures.py [--count 10000] [--senders 50] [--database-url URL]

Prints signatures/s, wishes/s and their ratio, and the peak RSS; checks that the count is
exact: one counted signature per PIN, the initiative's tally equal to it, and every PIN given
again under another name (one signer in a hundred) disputed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import tempfile
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from handlers import dispatch
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound
from storage.db import Database
from storage.models import Initiative, Signature

SECRET_KEY = "bench-secret-key-of-at-least-32-characters"  # checked like a real one

CODE = "BENCH"
DISPUTED_EVERY = 100
SURNAMES = ("Асанов", "Бекова", "Токтогулов", "Осмонова", "Жээнбеков", "Сыдыкова")
NAMES = ("Бакыт", "Айгүл", "Нурлан", "Жибек", "Урмат", "Нургүл", "Эрмек", "Чынара")


def phone_of(number: int) -> str:
    """Each signer's own phone."""
    return f"+99655{number:07d}"


def inbound(number: int, command: str, argument: str) -> Inbound:
    return Inbound(
        channel="sms",
        user_id=phone_of(number),
        delivery_id=f"SM{command}{number:012d}",
        command=command,
        argument=argument,
        language_hint="ky",
        guided=False,
        clears_opt_out=False,
    )


def pin_of(number: int) -> str:
    """Every hundredth signer gives the PIN of the one before, under their own name: kept as
    disputed, for the verification group."""
    if number % DISPUTED_EVERY == DISPUTED_EVERY - 1:
        number -= 1
    born = dt.date(1950, 1, 1) + dt.timedelta(days=number % 18_000)
    return f"{1 + number % 2}{born:%d%m%Y}{number % 100_000:05d}"


def signature_of(number: int) -> str:
    name = f"{SURNAMES[number % 6]} {NAMES[number // 6 % 8]} {NAMES[number // 48 % 8]}"
    return f"{CODE} {pin_of(number)} {name}"


async def run(
    db: Database, pseudonyms: Pseudonyms, count: int, command: str, first: int, senders: int
) -> float:
    """Seconds to handle `count` messages of one kind, `senders` phones writing at once."""
    numbers = iter(range(first, first + count))

    async def sender() -> None:
        for number in numbers:
            argument = signature_of(number) if command == "sign" else f"Көчөдө жарык жок {number}"
            outcome = await dispatch.handle(db, pseudonyms, inbound(number, command, argument))
            assert outcome is not None

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return time.perf_counter() - started


async def add_initiative(db: Database, threshold: int) -> None:
    today = dt.date.today()
    async with db.session() as session, session.begin():
        session.add(
            Initiative(
                code=CODE,
                kind="law",
                title_ky="Бенчмарк",
                published_on=today - dt.timedelta(days=40),
                opens_on=today - dt.timedelta(days=10),
                closes_on=today + dt.timedelta(days=50),
                threshold=threshold,
                requires_address=False,
                signed=0,
                milestone=0,
            )
        )


@dataclass(frozen=True)
class Count:
    """What the database holds after signers `numbers` signed, beside what it should."""

    counted: int
    disputed: int
    tally: int | None  # the initiative's counter
    pins: int  # distinct PINs given
    given: int  # signatures given

    @property
    def exact(self) -> bool:
        """One counted signature per PIN, the tally equal, every repeated PIN disputed."""
        return self.counted == self.pins == self.tally and self.disputed == self.given - self.pins

    def report(self) -> None:
        print(f"counted:  {self.counted} (PINs: {self.pins}), the initiative's tally {self.tally}")
        print(f"disputed: {self.disputed} (one PIN under a second name: {self.given - self.pins})")


async def count_signatures(db: Database, numbers: range) -> Count:
    async with db.session() as session:
        counted = await session.scalar(select(func.count()).where(Signature.status == "counted"))
        disputed = await session.scalar(select(func.count()).where(Signature.status == "disputed"))
        tally = await session.scalar(select(Initiative.signed).where(Initiative.code == CODE))
    pins = len({pin_of(number) for number in numbers})
    return Count(counted or 0, disputed or 0, tally, pins, len(numbers))


async def main(count: int, database_url: str, senders: int) -> None:
    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    pseudonyms = Pseudonyms(SECRET_KEY)
    try:
        await add_initiative(db, threshold=count)
        baseline_count = max(count // 5, 100)
        wishes = await run(db, pseudonyms, baseline_count, "change", 0, senders)
        signing = await run(db, pseudonyms, count, "sign", baseline_count, senders)
        signed = await count_signatures(db, range(baseline_count, baseline_count + count))
    finally:
        await db.close()
    wish_rate, sign_rate = baseline_count / wishes, count / signing
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database: {database_url.split('://')[0]}, {senders} senders at once")
    print(f"baseline: {baseline_count} one-message wishes in {wishes:.1f} s = {wish_rate:.0f}/s")
    print(f"signing:  {count} signatures in {signing:.1f} s = {sign_rate:.0f} signatures/s")
    print(f"ratio:    signatures/s ÷ wishes/s = {sign_rate / wish_rate:.2f}")
    signed.report()
    print(f"peak RSS: {peak_mb:.0f} MB")
    print(f"300,000 signatures would take {300_000 / sign_rate / 60:.1f} minutes")
    if not signed.exact:
        raise SystemExit("the count is not exact")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--senders", type=int, default=50, help="phones writing at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{directory}/bench.db"
        asyncio.run(main(args.count, url, args.senders))
