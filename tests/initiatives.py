"""Test helpers for initiatives: dates relative to today in Bishkek, PINs, and signing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from storage.db import Database
from storage.models import Signature
from tests.conversation import Talking

BISHKEK = ZoneInfo("Asia/Bishkek")
SIGN = {"ky": "Кол коюу", "ru": "Подписать", "en": "Sign"}
NOT_NOW = {"ky": "Азыр эмес", "ru": "Не сейчас", "en": "Not now"}
DISCARD = {"ky": "Жокко чыгаруу", "ru": "Отменить", "en": "Discard"}


def today() -> dt.date:
    return dt.datetime.now(BISHKEK).date()


def day(offset: int) -> str:
    """today + offset days, as the command line takes it."""
    return (today() + dt.timedelta(days=offset)).isoformat()


def pin(born: dt.date, first: int = 2, serial: int = 123) -> str:
    """A PIN as the registry makes them: sex digit, DDMMYYYY, five more digits."""
    return f"{first}{born:%d%m%Y}{serial:05d}"


ADULT = dt.date(1985, 5, 15)
ADULT_PIN = pin(ADULT)  # 21505198500123


def open_initiative(code: str, *extra: str, kind: str = "law") -> list[str]:
    """`civicbot initiative add` arguments for an initiative open today."""
    arguments = ["initiative", "add", code, "--kind", kind, "--published", day(-40)]
    return [
        *arguments,
        "--title",
        f"Таза суу {code}",
        "--title-ru",
        f"Чистая вода {code}",
        "--title-en",
        f"Clean water {code}",
        *extra,
    ]


async def sign_on_telegram(
    resident: Talking,
    language: str,
    code: str,
    name: str = "Асанов Бакыт",
    pin_text: str = ADULT_PIN,
    address: tuple[str, str, str] | None = ("Чаек", "Ленин", "12"),
) -> list[str]:
    """/start i-CODE, then every step; the bot's last replies."""
    await resident.send(f"/start i-{code}")
    await resident.press(SIGN[language])
    await resident.send(name)
    await resident.send(pin_text)
    for part in address or ():
        await resident.send(part)
    return await resident.press(SIGN[language])


async def stored_signatures(database_url: str) -> list[Signature]:
    """Every signature in the database, oldest first."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list((await session.scalars(select(Signature).order_by(Signature.id))).all())
    finally:
        await db.close()
