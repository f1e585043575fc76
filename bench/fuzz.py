"""Fuzzing both webhooks: 10,000 generated inputs (tests/strategies.py) against `civicbot
serve` on a fresh SQLite file, the fake Bot API and a signed Twilio webhook, all on 127.0.0.1.

    .venv/bin/python bench/fuzz.py [--count 10000] [--database-url URL]

Prints how many requests got each status, how many answered 5xx, how many log records carried
a traceback or an error, and how many well-formed messages went unanswered (a Telegram text
from a private chat with no message back; an SMS with an empty TwiML from a phone that has
not sent STOP). Generated senders repeat, and one that passes a flood limit is told so once
and then, by design, not answered for a while: such silences are counted apart ("quiet"),
not as unanswered.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.sms import keywords
from bot.channels.sms.channel import VARIANT
from bot.runtime.app import Runtime
from bot.runtime.config import Settings
from bot.runtime.i18n import Catalogues
from handlers import flood
from handlers.types import Text
from storage.domain import LANGUAGES
from tests.conftest import PUBLIC_BASE_URL, SECRET_KEY
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.strategies import MANY_SENDERS, sms_bodies, telegram_updates
from tests.test_outages import post_update
from tests.twilio import inbound_form, post_signed, twilio_settings


class Tally(logging.Handler):
    """Counts log records that carry a traceback or say ERROR."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.failures = 0
        self.first: list[str] = []  # the first few, to show

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.failures += 1
            if len(self.first) < 3:
                self.first.append(self.format(record)[-1500:])


def flood_notices(catalogues: Catalogues, variant: str | None = None) -> list[str]:
    """What a sender past a flood limit is told once, in every language, before the silence."""
    keys = (Text("wish.flood", {"limit": flood.WISHES_PER_HOUR}), Text("flood.messages"))
    return [catalogues.text(language, key, variant) for language in LANGUAGES for key in keys]


def answerable(update: dict[str, Any]) -> int | None:
    """The chat that must hear back from a well-formed private text message, or None."""
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return None
    chat = message.get("chat")
    if not isinstance(chat, dict) or chat.get("type") != "private":
        return None
    user = message.get("from")
    if not isinstance(user, dict) or not isinstance(chat.get("id"), int):
        return None
    return int(chat["id"])


async def main(count: int, database_url: str) -> None:
    telegram = FakeTelegram()
    await telegram.start()
    settings_ = Settings(
        database_url=database_url,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=telegram.base_url,
        public_base_url=PUBLIC_BASE_URL,
        port=0,
        secret_key=SECRET_KEY,
        **twilio_settings(),
    )
    runtime = Runtime(settings_)
    tally = Tally()
    logging.getLogger().addHandler(tally)
    logging.getLogger().setLevel(logging.INFO)
    await runtime.start()
    assert runtime.telegram is not None
    await asyncio.wait_for(runtime.telegram.ready.wait(), 10)
    statuses: Counter[str] = Counter()
    unanswered = Counter[str]()
    stopped: set[str] = set()  # senders who sent STOP and not START since
    silenced: set[str] = set()  # phones told they are past a flood limit
    quiet = Counter[str]()  # messages left unanswered after a flood notice: by design
    notices = flood_notices(runtime.catalogues)
    sms_notices = flood_notices(runtime.catalogues, VARIANT)
    failed: list[str] = []  # the first inputs answered 5xx
    missing: list[str] = []  # the first well-formed messages left unanswered
    ids = itertools.count(1)
    loop = asyncio.get_running_loop()

    async def one_update(update: dict[str, Any]) -> None:
        chat = answerable(update)
        before = len(telegram.messages_to(chat)) if chat is not None else 0
        status = await post_update(runtime, update)
        statuses[f"telegram {status}"] += 1
        if status >= 500 and len(failed) < 3:
            failed.append(repr(update)[:500])
        if status == 200 and chat is not None and len(telegram.messages_to(chat)) == before:
            told = [str(call.params.get("text")) for call in telegram.messages_to(chat)]
            if any(notice in text for text in told for notice in notices):
                quiet["telegram"] += 1
                return
            unanswered["telegram"] += 1
            if len(missing) < 3:
                missing.append(repr(update)[:500])

    async def one_sms(sender: str, body: str) -> None:
        status, answer = await post_signed(
            runtime.base_url, "/sms/twilio", inbound_form(sender, body)
        )
        statuses[f"sms {status}"] += 1
        if status >= 500 and len(failed) < 3:
            failed.append(repr(body)[:500])
        if any(notice in answer for notice in sms_notices):  # whatever the message was
            silenced.add(sender)
        action = keywords.parse(body).action
        if action in ("stop", "resume"):  # STOP is answered by the carrier; then silence
            if action == "stop":
                stopped.add(sender)
            else:
                stopped.discard(sender)
            return
        if status == 200 and "<Message>" not in answer and sender not in stopped:
            if sender in silenced:
                quiet["sms"] += 1
                return
            unanswered["sms"] += 1
            if len(missing) < 6:
                missing.append(f"{sender}: {body!r}"[:500])

    run_settings = settings(
        max_examples=count // 2,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    @run_settings
    @given(data=st.data())
    def updates(data: Any) -> None:
        users = st.integers(min_value=1, max_value=1_000_000)
        update = data.draw(telegram_updates(next(ids), users))
        asyncio.run_coroutine_threadsafe(one_update(update), loop).result()

    @run_settings
    @given(sender=MANY_SENDERS, body=sms_bodies())
    def messages(sender: str, body: str) -> None:
        asyncio.run_coroutine_threadsafe(one_sms(sender, body), loop).result()

    try:
        await asyncio.to_thread(updates)
        await asyncio.to_thread(messages)
    finally:
        await runtime.stop()
        await telegram.stop()
    total = sum(statuses.values())
    print(f"inputs:      {total}")
    for status, number in sorted(statuses.items()):
        print(f"  {status}: {number}")
    print(f"5xx:         {sum(n for s, n in statuses.items() if s.endswith(('500', '503')))}")
    print(f"tracebacks:  {tally.failures} (log records with a traceback or at ERROR)")
    print(f"unanswered:  {sum(unanswered.values())} {dict(unanswered)}")
    print(f"quiet:       {sum(quiet.values())} {dict(quiet)} (after a flood notice, by design)")
    for shown in failed + missing + tally.first:
        print("---\n" + shown)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{directory}/fuzz.db"
        asyncio.run(main(args.count, url))
