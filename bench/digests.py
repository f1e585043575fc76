"""Digests at national scale: every municipality's weekly digest built from a year of data.

480 municipalities, 1,000,000 wishes over 52 weeks and 50,000 bribe reports in a fresh
SQLite file (or --database-url); then, for every municipality, the digest of the last
complete week: collected from the database, worded (Kyrgyz), and its chart drawn — what the
weekly run does before it sends anything. The baseline, in the same run, is collecting and
wording alone: what the chart adds on top of it.

    .venv/bin/python bench/digests.py [--municipalities 480] [--wishes 1000000]
        [--bribes 50000] [--database-url URL]

Prints the total, p50 and p99 per digest, and the time spent collecting, wording and drawing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.digests import chart, text
from bot.digests.content import collect
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers.weeks import Week
from storage.db import Database
from storage.domain import bribe_service_codes, wish_categories
from storage.models import BribeReport, Municipality, Region, Wish

SECRET_KEY = "bench-secret-key-of-at-least-32-characters"  # checked like a real one

TIMEZONE = "Asia/Bishkek"
ANSWER_DAYS = 14  # APPEAL_ANSWER_DAYS (its default): the answers-on-time figures' period
CHUNK = 20_000
TEXTS = (
    "Көчөдө жарык жок, кечинде караңгы.",
    "Суу күнүнө эки саат гана келет.",
    "Мектептин жанындагы жол бузулган.",
    "Жаңы парк абдан жакшы болду, рахмат!",
)


async def seed(db: Database, places: int, wishes: int, bribes: int, week: Week) -> None:
    """Synthetic municipalities beside the starter set, then a year of wishes and reports."""
    categories = wish_categories()
    services = sorted(bribe_service_codes())
    async with db.session() as session, session.begin():
        region = await session.scalar(select(Region.id).limit(1))
        existing = len((await session.scalars(select(Municipality.id))).all())
        more = [
            {
                "key": f"bench_{n:04d}",
                "code": 9000 + n,
                "region_id": region,
                "name_ky": f"Айыл {n}",
                "name_ru": f"Село {n}",
                "name_en": f"Village {n}",
            }
            for n in range(max(places - existing, 0))
        ]
        if more:  # an empty list would insert one row of defaults
            await session.execute(insert(Municipality), more)
        ids = list((await session.scalars(select(Municipality.id))).all())[:places]
    end = dt.datetime.combine(week.sunday, dt.time(23), tzinfo=ZoneInfo(TIMEZONE))
    rng = random.Random(11)
    for first in range(0, wishes, CHUNK):
        rows = [
            {
                "reference": f"B{n:09d}",
                "kind": "change" if n % 4 else "great",
                "category": categories[rng.randrange(len(categories))],
                "text": TEXTS[n % len(TEXTS)],
                "municipality_id": ids[rng.randrange(len(ids))],
                "channel": "telegram",
                "status": "accepted",
                "created_at": end - dt.timedelta(seconds=rng.randrange(365 * 86_400)),
            }
            for n in range(first, min(first + CHUNK, wishes))
        ]
        async with db.session() as session, session.begin():
            await session.execute(insert(Wish), rows)
    reports = [
        {
            "id": f"r{n:012d}",
            "reference": f"P{n:09d}",
            "service": services[rng.randrange(len(services))],
            "outcome": ("paid", "refused", "not_asked")[n % 3],
            "month": (day := week.sunday - dt.timedelta(days=rng.randrange(365))).strftime("%Y-%m"),
            "created_on": day,
            "municipality_id": ids[rng.randrange(len(ids))],
            "channel": "sms",
        }
        for n in range(bribes)
    ]
    async with db.session() as session, session.begin():
        for first in range(0, len(reports), CHUNK):
            await session.execute(insert(BribeReport), reports[first : first + CHUNK])


async def build_all(db: Database, week: Week, draw: bool) -> tuple[list[float], dict[str, float]]:
    """Every municipality's digest; seconds per digest, and seconds per stage in all."""
    catalogues = Catalogues()
    today = week.sunday + dt.timedelta(days=1)
    stages = {"collect": 0.0, "text": 0.0, "chart": 0.0}
    per_digest: list[float] = []
    async with db.session() as session:
        places = (await session.scalars(select(Municipality).order_by(Municipality.id))).all()
    for place in places:
        started = time.perf_counter()
        async with db.session() as session:
            digest = await collect(session, place, week, TIMEZONE, today, ANSWER_DAYS)
        worded = time.perf_counter()
        text.render(digest, catalogues, "ky", "civic_bot")
        drawn = time.perf_counter()
        if draw:
            chart.draw(digest, catalogues, "ky")
        done = time.perf_counter()
        stages["collect"] += worded - started
        stages["text"] += drawn - worded
        stages["chart"] += done - drawn
        per_digest.append(done - started)
    return per_digest, stages


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def main(args: argparse.Namespace, database_url: str) -> None:
    db = await prepare_database(Settings(database_url=database_url, secret_key=SECRET_KEY))
    week = Week.last_complete(dt.date.today())
    try:
        started = time.perf_counter()
        await seed(db, args.municipalities, args.wishes, args.bribes, week)
        print(
            f"seeded {args.wishes:,} wishes and {args.bribes:,} reports in "
            f"{time.perf_counter() - started:.0f} s"
        )
        plain, plain_stages = await build_all(db, week, draw=False)
        full, stages = await build_all(db, week, draw=True)
    finally:
        await db.close()
    print(f"{len(full)} digests of {week}, {database_url.split('://')[0]}")
    for label, times, parts in (
        ("without chart", plain, plain_stages),
        ("with chart", full, stages),
    ):
        print(
            f"{label:14} total {sum(times):6.1f} s, p50 {percentile(times, 0.5):5.0f} ms, "
            f"p99 {percentile(times, 0.99):5.0f} ms "
            f"(collect {parts['collect']:.1f} s, text {parts['text']:.1f} s, "
            f"chart {parts['chart']:.1f} s)"
        )
    print(f"the chart multiplies the run by {sum(full) / sum(plain):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--municipalities", type=int, default=480)
    parser.add_argument("--wishes", type=int, default=1_000_000)
    parser.add_argument("--bribes", type=int, default=50_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = arguments.database_url or f"sqlite+aiosqlite:///{directory}/digests.db"
        asyncio.run(main(arguments, url))
