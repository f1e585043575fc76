"""A poll answered on the wire: the Bot API's callback query with a `poll:` payload reaches
the answer, and the poll's keyboard stays (the answer can be changed until it closes). The
fake Bot API (tests/fake_telegram.py), the webhook, both databases."""

from __future__ import annotations

from datetime import timedelta

from storage import queries
from storage.db import Database
from storage.models import PollAnswer, utcnow
from tests.conftest import Say, StartBot, resident_of, rows
from tests.fake_telegram import FakeTelegram


async def test_a_poll_is_answered_and_changed_through_the_bot_api(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session:
            place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None

        async def add(session: object) -> str:
            poll = await queries.add_poll(
                session,  # type: ignore[arg-type]
                place.id,
                {"ky": "Эмнени оңдойлу?", "en": "What to fix?"},
                [{"label_ky": "Жол", "label_en": "Road"}, {"label_ky": "Суу", "label_en": "Water"}],
                utcnow() + timedelta(days=7),
                status="open",
            )
            return poll.code

        code = await db.write(add)
    finally:
        await db.close()
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9901, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    [shown] = await resident.send("/polls")
    assert "What to fix?" in shown and resident.buttons() == ["1. Road", "2. Water"]

    taken_away = len(telegram.called("editMessageReplyMarkup"))  # the language's buttons
    [_age] = await resident.press("2. Water")  # the thanks: a toast (test_polls_answer_toast.py)
    assert telegram.toasts() == [say("en", "poll.thanks", code=code, choices="2. Water")]
    assert len(telegram.called("editMessageReplyMarkup")) == taken_away  # the poll's stay
    await resident.press_data(f"poll:{code}:1")
    await runtime.stop()
    assert [(a.choices, a.channel) for a in await rows(database_url, PollAnswer)] == [
        ("1", "telegram")
    ]
