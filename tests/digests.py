"""Test helpers for digests: officials made through real invites, the environment that lets
`civicbot digest run` reach the fake Bot API and the fake Twilio, and moving the week's data
into a fixed week so that the numbers do not depend on today's weekday."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
from typing import Any

import pytest
from sqlalchemy import update

from handlers.weeks import Week
from storage.db import Database
from storage.models import BribeReport, Signature, Wish
from tests.conftest import SECRET_KEY, Civicbot, resident_of
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.initiatives import BISHKEK, today
from tests.places import category
from tests.resident import Resident
from tests.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, inbound_form, post_signed


def last_week() -> Week:
    """The week `civicbot digest run` reports on by default."""
    return Week.last_complete(today())


async def invite_code(civicbot: Civicbot, role: str, municipality: str) -> str:
    rc, out, err = await civicbot("invite", "--role", role, "--municipality", municipality)
    assert rc == 0, err
    match = re.search(r"invite code: (\w+)", out)
    assert match is not None, out
    return match.group(1)


async def official_on_telegram(
    runtime: Any,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    user_id: int,
    language: str,
    role: str = "deputy",
    municipality: str = "lenin",
) -> Resident:
    """A deputy or staff member who redeemed an invite on Telegram (/start inv-CODE)."""
    person = resident_of(runtime, telegram, "webhook", user_id, language)
    code = await invite_code(civicbot, role, municipality)
    replies = await person.send(f"/start inv-{code}")
    assert any("/digest" in reply for reply in replies), replies
    return person


async def official_by_sms(
    runtime: Any, civicbot: Civicbot, phone: str, keyword: str, municipality: str = "lenin"
) -> str:
    """A deputy without Telegram, joined by SMS (JOIN CODE, КОШУЛ CODE…); the reply."""
    code = await invite_code(civicbot, "deputy", municipality)
    status, twiml = await post_signed(
        runtime.base_url, "/sms/twilio", inbound_form(phone, f"{keyword} {code}")
    )
    assert status == 200
    return twiml


LANGUAGE_BUTTONS = {"ky": "Кыргызча", "ru": "Русский", "en": "English"}


async def wish_last_week(
    runtime: Any,
    telegram: FakeTelegram,
    database_url: str,
    user_id: int,
    language: str,
    place: str,
    wish: tuple[str, str, str],
) -> Resident:
    """A resident of `place` who left one wish (kind, category key, text), dated last
    week, so that the digest has a chart as well as text."""
    resident = resident_of(runtime, telegram, "webhook", user_id, language)
    await resident.send(f"/start m-{place}")
    await resident.press(LANGUAGE_BUTTONS[language])
    kind, category_key, text = wish
    await resident.leave_wish(kind, category(category_key)[language], text)
    await move_into(database_url, last_week())
    return resident


def delivery_env(
    monkeypatch: pytest.MonkeyPatch, telegram: FakeTelegram, twilio_url: str | None = None
) -> None:
    """What `civicbot digest run` needs to send: the fake Bot API, and Twilio if given."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", telegram.base_url)
    if twilio_url:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        monkeypatch.setenv("TWILIO_FROM_NUMBER", FROM_NUMBER)
        monkeypatch.setenv("TWILIO_API_BASE_URL", twilio_url)


async def civicbot_process(
    database_url: str, telegram: FakeTelegram, *arguments: str
) -> asyncio.subprocess.Process:
    """`civicbot ARGUMENTS` as its own process (as a second server or a cron job would run
    it), sending through the fake Bot API."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram.base_url,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.commands.cli",
        *arguments,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def midday(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), BISHKEK)


async def move_into(database_url: str, week: Week, before: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Date everything residents gave to the Wednesday of `week`; the wishes whose text is
    in `before` to the Wednesday of the week before."""
    wednesday = week.monday + dt.timedelta(days=2)
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(update(Wish).values(created_at=midday(wednesday)))
            await session.execute(
                update(Wish)
                .where(Wish.text.in_(before))
                .values(created_at=midday(wednesday - dt.timedelta(days=7)))
            )
            await session.execute(update(BribeReport).values(created_on=wednesday))
            await session.execute(update(Signature).values(signed_on=wednesday))
    finally:
        await db.close()


def sent_to(telegram: FakeTelegram, chat_id: int, since: int = 0) -> list[tuple[str, Any]]:
    """(kind, text / caption / file name) of what reached one chat, in order, from the call
    numbered `since`."""
    described = []
    for call in telegram.delivered_to(chat_id, since):
        params = call.params
        if call.method == "sendMessage":
            described.append(("text", params["text"]))
        elif call.method == "sendPhoto":
            described.append(("photo", params.get("caption", "")))
        else:
            described.append(("document", params["document"]["filename"]))
    return described
