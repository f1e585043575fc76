"""How fast the staff console's pages are with 10,000 wishes in one municipality: the
waiting list, a filtered list (a topic), a search (words), and a wish's card, each asked
ROUNDS times; the server's own time from each answer's Server-Timing header (the page's
handler, as bot/web/staff/routes.py measures it), not the client's. Goal: under 100 ms each.

    .venv/bin/python bench/console.py [--wishes 10000] [--rounds 20] [--database-url URL]

Seeds a fresh SQLite database (or the one given, which it fills) through the real runtime
(migrated, municipalities seeded), with one appeal in fifty wishes; signs a staff member in
by a session made as the login makes one; on PostgreSQL runs ANALYZE, as autovacuum would
after such a load (without statistics its planner loops over the appeals for each wish);
then asks each page and prints the median and the slowest server time of each. Bounded:
ROUNDS requests a page.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.runtime.app import Runtime
from bot.runtime.config import Settings
from bot.web.staff import access
from storage import queries
from storage.models import Appeal, Person, Role, Wish, utcnow
from tests.conftest import SECRET_KEY

PLACE = "naryn_city"
TOPICS = ("roads", "drinking_water", "schools", "garbage", "street_lighting", "other")
WORDS = ("жол", "суу", "мектеп", "таштанды", "жарык", "көчө", "бак", "көпүрө", "үй", "базар")
APPEAL_EVERY = 50


async def seed(runtime: Runtime, wishes: int) -> tuple[str, str]:
    """The wishes, their appeals, a staff member and their session; (cookie, a reference)."""
    rng = random.Random(30)
    now = utcnow()
    async with runtime.db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, PLACE)
        assert place is not None
        staff = Person(channel="telegram", channel_user_id="900001", language="en")
        session.add(staff)
        await session.flush()
        session.add(Role(person_id=staff.id, role="staff", municipality_id=place.id))
        rows = [
            {
                "reference": str(5_000_000 + n),
                "kind": "change",
                "category": TOPICS[n % len(TOPICS)],
                "text": " ".join(rng.choice(WORDS) for _ in range(12)),
                "municipality_id": place.id,
                "channel": "telegram",
                "status": "accepted",
                "created_at": now - dt.timedelta(minutes=n),
                "version": 0,
                "hidden": False,
                "media_public": False,
            }
            for n in range(wishes)
        ]
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Wish), rows[start : start + 1000])
        ids = (await session.scalars(select(Wish.id).order_by(Wish.id))).all()
        today = dt.date.today()
        appeals = [
            {
                "wish_id": wish_id,
                "municipality_id": place.id,
                "number": f"A-{n}",
                "registered_on": today,
                "due_on": today + dt.timedelta(days=n % 30 - 10),
                "first_due_on": today,
                "created_at": now,
            }
            for n, wish_id in enumerate(ids[::APPEAL_EVERY])
        ]
        await session.execute(insert(Appeal), appeals)
        cookie = access.new_session(session, runtime.pseudonyms, staff.id, now)
    return cookie, str(5_000_000 + wishes // 2)


async def timed(http: aiohttp.ClientSession, url: str, cookie: str, rounds: int) -> list[float]:
    spent = []
    for _ in range(rounds):
        async with http.get(url, headers={"Cookie": f"civicbot_staff={cookie}"}) as response:
            assert response.status == 200, (url, response.status, await response.text())
            await response.read()
            spent.append(float(response.headers["Server-Timing"].split("dur=")[1]))
    return spent


async def main(wishes: int, rounds: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite+aiosqlite:///{folder}/console.db"
        settings = Settings(
            database_url=url, secret_key=SECRET_KEY, port=0, media_dir=f"{folder}/media"
        )
        runtime = Runtime(settings)
        await runtime.start()
        try:
            cookie, reference = await seed(runtime, wishes)
            if runtime.db.engine.dialect.name == "postgresql":  # as autovacuum soon would
                async with runtime.db.engine.connect() as connection:
                    await connection.execute(text("ANALYZE"))
            pages = {
                "list (waiting)": "/staff",
                "list (topic)": "/staff?topic=roads&status=all",
                "list (due, overdue)": "/staff?due=overdue",
                "search (words)": "/staff?" + urlencode({"q": "көпүрө жол"}),
                "search (reference)": f"/staff?q={reference}",
                "card": f"/staff/wish/{reference}",
            }
            print(
                f"{wishes} wishes in {PLACE}, {wishes // APPEAL_EVERY} appeals; {url.split(':')[0]}"
            )
            async with aiohttp.ClientSession() as http:
                for name, path in pages.items():
                    spent = await timed(http, runtime.base_url + path, cookie, rounds)
                    median, slowest = statistics.median(spent), max(spent)
                    verdict = "ok" if median < 100 else "OVER 100 ms"
                    print(
                        f"{name:22} median {median:6.1f} ms  slowest {slowest:6.1f} ms  {verdict}"
                    )
        finally:
            await runtime.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wishes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.wishes, args.rounds, args.database_url))
