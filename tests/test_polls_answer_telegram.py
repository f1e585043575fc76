"""A poll answered on the wire: the Bot API's callback query with a `poll:` payload reaches
the answer, and the poll's keyboard stays (the answer can be changed until it closes). The
fake Bot API (tests/fake_telegram.py), the webhook, both databases."""

from __future__ import annotations

from storage.models import PollAnswer
from tests.conftest import Say, StartBot, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.test_polls_answer_toast import naryn_poll


async def test_a_poll_is_answered_and_changed_through_the_bot_api(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    code = await naryn_poll(database_url)
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9901, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    [shown] = await resident.send("/polls")
    assert "What to fix?" in shown and resident.buttons() == ["1. Road", "2. Water"]

    taken_away = len(telegram.called("editMessageReplyMarkup"))  # the language's buttons
    await resident.press("2. Water")  # the thanks: a toast (test_polls_answer_toast.py)
    assert telegram.toasts() == [say("en", "poll.thanks", code=code, choices="2. Water")]
    assert len(telegram.called("editMessageReplyMarkup")) == taken_away  # the poll's stay
    await resident.press_data(f"poll:{code}:1")
    await runtime.stop()
    assert [(a.choices, a.channel) for a in await rows(database_url, PollAnswer)] == [
        ("1", "telegram")
    ]
