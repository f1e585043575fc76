"""Wishes and appeals put straight into a test's database for the accountability figures:
when each arrived, fell due and was answered, in Asia/Bishkek (the tests' TIMEZONE). The
APPEALS engineer's code fills `appeals` in the bot; here rows are written as it would: an
answer is a `wish_answers` row (the figures count the first with a final status), and the
wish's `answered_at` its first status of any kind.

The tests' days are fixed (TODAY), and `freeze` sets the bot's clock to it, so that a run
across Bishkek's midnight cannot move a period's edge between the data and the reading."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from handlers.accountability import MIN_ITEMS
from storage import queries
from storage.db import Database
from storage.models import Appeal, Wish, WishAnswer

BISHKEK = ZoneInfo("Asia/Bishkek")
_numbers = count(1)
SEALED = "Асанов Асан Асанович, Ленина 1"  # an appellant's name and address, never shown


def local(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), BISHKEK)


@dataclass(frozen=True)
class Item:
    """One wish to change (or appeal, with `due`) in a municipality."""

    place: str
    arrived: dt.datetime  # a wish's created_at; an appeal's registration is its local date
    answered: dt.datetime | None = None  # its first answer with a final status
    due: dt.date | None = None  # an appeal's due date (extended or not)
    first_due: dt.date | None = None  # before an extension moved it (default: `due`)
    kind: str = "change"
    hidden: bool = False
    status: str = "accepted"  # an unanswered wish's ("duplicate": marked one)
    answer_status: str = "done"  # the status of `answered`
    interim: dt.datetime | None = None  # an "accepted" answer given before any final one
    registered: dt.date | None = None  # an appeal registered after the wish came (`due` set)


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
                    status=item.answer_status if item.answered else item.status,
                    answered_at=item.interim or item.answered,
                    answer="ok" if item.answered else None,
                )  # fmt: skip
                session.add(wish)
                await session.flush()
                for at, status in ((item.interim, "accepted"), (item.answered, item.answer_status)):
                    if at is not None:
                        session.add(WishAnswer(
                            wish_id=wish.id, status=status, text="ok", staff_id=None,
                            channel="telegram", created_at=at,
                        ))  # fmt: skip
                if item.due is not None:
                    answered = item.answered.astimezone(BISHKEK).date() if item.answered else None
                    session.add(
                        Appeal(
                            wish_id=wish.id,
                            municipality_id=place.id,
                            number=f"A-{number}",
                            sealed=SEALED,
                            registered_on=item.registered
                            or item.arrived.astimezone(BISHKEK).date(),
                            due_on=item.due,
                            first_due_on=item.first_due or item.due,
                            answered_on=answered,
                        )
                    )
    finally:
        await db.close()


TODAY = dt.date(2026, 6, 17)  # a Wednesday, no holiday near: the pages' tests' day


def today() -> dt.date:
    return TODAY


def freeze(monkeypatch: pytest.MonkeyPatch, day: dt.date = TODAY, hour: int = 12) -> None:
    """The bot's clock at `hour` o'clock on `day` in Bishkek, wherever the figures, pages
    and commands read it (a test's own `utcnow` stays real)."""
    from bot.commands import accountability as export
    from bot.commands import admin
    from bot.reports import accountability as report
    from bot.web import accountability_page, public, stats

    now = local(day, hour).astimezone(dt.UTC)
    for module in (report, accountability_page, public, stats):
        monkeypatch.setattr(module, "utcnow", lambda: now)
    for module in (export, admin):  # (the spreadsheet's name is dated by admin's)
        monkeypatch.setattr(module, "today_in", lambda settings: day)


def three_places() -> list[Item]:
    """Naryn: ten wishes and an appeal answered the day they came, an appeal overdue
    (12 counted, 11 in time); Osh: five answered the same day, five never answered that
    arrived 60 days ago (overdue, due within the 12 weeks, before the 4); Lenin: nine
    answered, one short of a place in the ranking."""
    two_weeks_ago, forty_days_ago = today() - dt.timedelta(days=14), today() - dt.timedelta(40)
    same_day = (local(two_weeks_ago, 10), local(two_weeks_ago, 11))
    return [
        *(Item("naryn_city", *same_day) for _ in range(10)),
        Item("naryn_city", *same_day, due=two_weeks_ago + dt.timedelta(days=3)),
        Item("naryn_city", local(forty_days_ago), due=today() - dt.timedelta(days=20)),
        *(Item("osh", *same_day) for _ in range(5)),
        *(Item("osh", local(today() - dt.timedelta(days=60))) for _ in range(5)),
        *(Item("lenin", *same_day) for _ in range(MIN_ITEMS - 1)),
    ]
