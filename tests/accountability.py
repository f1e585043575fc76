"""Wishes and appeals put straight into a test's database for the accountability figures:
when each arrived, fell due and was answered, in Asia/Bishkek (the tests' TIMEZONE). The
APPEALS engineer's code fills `appeals` in the bot; here rows are written as it would."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count
from zoneinfo import ZoneInfo

from storage import queries
from storage.db import Database
from storage.models import Appeal, Wish

BISHKEK = ZoneInfo("Asia/Bishkek")
_numbers = count(1)


def local(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), BISHKEK)


@dataclass(frozen=True)
class Item:
    """One wish to change (or appeal, with `due`) in a municipality."""

    place: str
    arrived: dt.datetime  # a wish's created_at; an appeal's registration is its local date
    answered: dt.datetime | None = None
    due: dt.date | None = None  # an appeal's due date (extended or not)
    kind: str = "change"
    hidden: bool = False
    status: str = "accepted"


async def put(database_url: str, items: list[Item]) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            for item in items:
                place = await queries.municipality_by_key(session, item.place)
                assert place is not None, item.place
                number = next(_numbers)
                wish = Wish(
                    reference=f"88{number:05d}", kind=item.kind, category="roads",
                    text="Text that no figure shows", municipality_id=place.id,
                    channel="telegram", created_at=item.arrived, hidden=item.hidden,
                    status=item.status if item.answered or item.status == "duplicate"
                    else "accepted",
                    answered_at=item.answered, answer="ok" if item.answered else None,
                )  # fmt: skip
                session.add(wish)
                await session.flush()
                if item.due is not None:
                    answered = item.answered.astimezone(BISHKEK).date() if item.answered else None
                    session.add(
                        Appeal(
                            wish_id=wish.id,
                            municipality_id=place.id,
                            number=f"A-{number}",
                            sealed="sealed",
                            registered_on=item.arrived.astimezone(BISHKEK).date(),
                            due_on=item.due,
                            first_due_on=item.due,
                            answered_on=answered,
                        )
                    )
    finally:
        await db.close()
