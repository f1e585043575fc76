"""How fast a week's digests fan out: OFFICIALS deputies and staff (one in ten is staff and
also gets the CSV) in three municipalities, through `civicbot digest run`'s code
(bot/digests/delivery.py) to a fake Bot API on 127.0.0.1 that enforces Telegram's limit of
30 messages a second by answering 429 with retry_after.

The baseline, measured in the same run against the same server: a bare loop of
`sendMessage` calls at the same pace, with no database, digest or chart. The ratio says
what claiming, building and recording cost on top of the pace itself.

    .venv/bin/python bench/digest_fanout.py [--officials 1000] [--database-url URL]

Prints messages/s (both), their ratio, 429s received, and recipients who got anything twice
(must be 0). Bounded: it stops by itself when every delivery row is finished.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.outbox import RATE, Pacer
from bot.channels.telegram.bot_api import BotApi, telegram_bot
from bot.channels.telegram.errors import RetryAfter
from bot.digests.delivery import Digests
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers.weeks import Week
from storage import queries
from storage.db import Database
from storage.models import Person, Role
from tests.conftest import SECRET_KEY
from tests.fake_telegram import TOKEN, Call, FakeTelegram

PLACES = ("lenin", "chaek", "naryn_city")
CATEGORIES = ("roads", "drinking_water", "schools", "garbage", "street_lighting")
BASELINE_MESSAGES = 300
FIRST_CHAT = 500_000


async def seed(db: Database, officials: int, week: Week) -> None:
    """Officials in three places, languages in turn; a few wishes in each place last week."""
    wednesday = dt.datetime.combine(week.monday + dt.timedelta(days=2), dt.time(12), dt.UTC)
    async with db.session() as session, session.begin():
        places = [await queries.municipality_by_key(session, key) for key in PLACES]
        for number in range(officials):
            person = Person(
                channel="telegram",
                channel_user_id=str(FIRST_CHAT + number),
                language=("ky", "ru", "en")[number % 3],
            )
            session.add(person)
            await session.flush()
            role = "staff" if number % 10 == 0 else "deputy"
            place = places[number % len(places)]
            assert place is not None
            session.add(Role(person_id=person.id, role=role, municipality_id=place.id))
        for index, place in enumerate(places):
            assert place is not None
            for n in range(12 + index * 5):
                wish = await queries.add_wish(
                    session,
                    kind="change" if n % 4 else "great",
                    category=CATEGORIES[n % len(CATEGORIES)],
                    text=f"Көчөдөгү жарык жок, №{n}",
                    municipality_id=place.id,
                    channel="telegram",
                    person_id=None,
                )
                wish.created_at = wednesday


def bot_for(telegram: FakeTelegram) -> BotApi:
    """The client the service makes (bot/channels/telegram/bot_api.py), on the fake Bot API."""
    settings = Settings(
        secret_key=SECRET_KEY, telegram_bot_token=TOKEN, telegram_api_base_url=telegram.base_url
    )
    return telegram_bot(settings)


async def baseline(telegram: FakeTelegram) -> float:
    """Messages/s of plain sendMessage calls at our pace."""
    pacer = Pacer()
    async with bot_for(telegram) as bot:
        started = time.perf_counter()
        for number in range(BASELINE_MESSAGES):
            while True:
                await pacer.wait()
                try:
                    await bot.call("sendMessage", chat_id=FIRST_CHAT - 1 - number, text="baseline")
                    break
                except RetryAfter as error:
                    pacer.hold(error.retry_after)
        return BASELINE_MESSAGES / (time.perf_counter() - started)


async def main(officials: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = database_url or f"sqlite+aiosqlite:///{directory}/bench.db"
        settings = Settings(database_url=url, secret_key=SECRET_KEY)
        db = await prepare_database(settings)
        telegram = FakeTelegram(rate_limit=int(RATE))
        await telegram.start()
        week = Week.last_complete(dt.date.today())
        try:
            await seed(db, officials, week)
            plain = await baseline(telegram)
            await asyncio.sleep(1.5)  # let the baseline's second pass out of the window
            telegram.calls.clear()
            too_many_before = telegram.too_many
            async with bot_for(telegram) as bot:
                digests = Digests(settings, db, Catalogues(), bot=bot)
                started = time.perf_counter()
                tally = await digests.run(week)
                elapsed = time.perf_counter() - started
        finally:
            await telegram.stop()
            await db.close()
    delivered = telegram.delivered()
    twice = {chat for (chat, _), n in Counter(map(_what, delivered)).items() if n > 1}
    rate = len(delivered) / elapsed
    print(f"officials:          {officials} ({tally})")
    print(f"messages sent:      {len(delivered)} in {elapsed:.1f} s")
    print(f"fan-out:            {rate:.1f} messages/s")
    print(f"baseline:           {plain:.1f} messages/s (bare sendMessage at the same pace)")
    print(f"ratio:              {rate / plain:.2f} of baseline, {rate / RATE:.2f} of the limit")
    print(f"429s received:      {telegram.too_many - too_many_before}")
    print(f"got anything twice: {len(twice)}")


def _what(call: Call) -> tuple[object, str]:
    """(chat, the message's identity): the same identity twice in one chat is a duplicate."""
    params = call.params
    upload = params.get("photo") or params.get("document") or {}
    return params["chat_id"], f"{call.method}:{params.get('text', '')}:{upload.get('filename')}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--officials", type=int, default=1000)
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.officials, arguments.database_url))
