"""A poll answered by a button on Telegram is confirmed by the press's own answer (the
answerCallbackQuery text, a toast shown to the presser), not by a chat message: chat
messages are held to Telegram's ~30 a second overall, which paced every answer's webhook
(issue 29's bench). The closing question stays a message (it has buttons), and follows the
answer (tests/test_polls_answer_follow_up.py); the toast is
never kept with the delivery; where it cannot be shown it goes as a message; the web chat
still shows it as a message. The fake Bot API and the web chat on the wire, both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.channels import answers
from bot.channels.answers import Answer
from bot.runtime.i18n import Catalogues
from handlers.types import Button, Outcome, Reply, Text
from storage import queries
from storage.db import Database
from storage.models import InboundDelivery, PollAnswer, utcnow
from tests.conftest import Say, StartBot, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.resident import Resident
from tests.web_visitor import WebVisitor, session_from


async def naryn_poll(database_url: str) -> str:
    """An open single-choice poll of Naryn city; its code."""
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

        return await db.write(add)
    finally:
        await db.close()


def delivered(telegram: FakeTelegram, resident: Resident) -> list[str]:
    """The texts the fake took for the resident (not those it refused with a 429)."""
    return [str(c.params["text"]) for c in telegram.delivered_to(resident.user_id)]


async def followed(telegram: FakeTelegram, resident: Resident, before: int) -> str:
    """The message that follows an answer: the next one delivered to the resident after the
    first `before`, waited for (the webhook did not)."""
    await telegram.wait_for_sends(lambda: len(delivered(telegram, resident)) > before)
    return delivered(telegram, resident)[before]


async def kept_with_deliveries(database_url: str) -> list[str]:
    """Every text kept for a redelivery: messages, their buttons, and any toast."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            replies = (await session.scalars(select(InboundDelivery.reply))).all()
    finally:
        await db.close()
    texts = []
    for reply in replies:
        if reply and reply.startswith("{"):
            kept = Answer.from_json(reply)
            texts += [text for text, _ in kept.messages] + [kept.toast]
    return texts


async def test_a_button_answer_is_a_toast_and_the_closing_question_a_message(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    code = await naryn_poll(database_url)
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9902, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    await resident.send("/polls")

    thanks = say("en", "poll.thanks", code=code, choices="2. Water")
    before = len(delivered(telegram, resident))
    await resident.press("2. Water")  # the closing question follows, alone, as a message
    assert await followed(telegram, resident, before) == say("en", "poll.ask_age")
    assert telegram.toasts() == [thanks]
    [pressed] = [c for c in telegram.called("answerCallbackQuery") if c.params.get("text")]
    assert pressed.params["callback_query_id"] == resident.last_update["callback_query"]["id"]

    changed = say("en", "poll.changed", code=code, choices="1. Road")
    again = await resident.press_data(f"poll:{code}:1")
    assert again == []  # the closing question stands just above: not asked again
    assert telegram.toasts() == [thanks, changed]
    sent = [c.params["text"] for c in telegram.called("sendMessage")]
    assert thanks not in sent and changed not in sent
    await runtime.stop()

    assert [a.choices for a in await rows(database_url, PollAnswer)] == ["1"]
    kept = await kept_with_deliveries(database_url)
    assert kept  # the /start and /polls answers: the check reads real rows
    assert not [text for text in kept if thanks in text or changed in text]


async def test_a_toast_telegram_did_not_take_goes_as_a_message_first(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    code = await naryn_poll(database_url)
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 9903, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    await resident.send("/polls")

    telegram.failures["answerCallbackQuery"] = 1  # a bad moment at Telegram: 502
    before = len(delivered(telegram, resident))
    await resident.press("2. Water")
    assert await followed(telegram, resident, before + 1) == say("en", "poll.ask_age")
    assert delivered(telegram, resident)[before:] == [
        say("en", "poll.thanks", code=code, choices="2. Water"),
        say("en", "poll.ask_age"),
    ]
    assert telegram.toasts() == []


async def test_the_web_chat_still_shows_the_answer_as_a_message(
    start_bot: StartBot, say: Say, database_url: str
) -> None:
    code = await naryn_poll(database_url)
    runtime = await start_bot("webhook")
    async with session_from() as http:
        visitor = WebVisitor(runtime.base_url, http)
        await visitor.settle_in_naryn()
        await visitor.post(text="/polls")
        status, _ = await visitor.post(button=visitor.buttons()["2. Water"])
    assert status == 200
    assert say("en", "poll.thanks", code=code, choices="2. Water") in visitor.messages()


def test_only_a_press_s_plain_short_reply_becomes_a_toast(catalogues: Catalogues) -> None:
    toast = Reply(parts=(Text("poll.none", {"place": "Naryn"}),), toast=True)
    with_buttons = Reply(parts=toast.parts, buttons=((Button("x", "y"),),), toast=True)
    too_long = Reply(parts=(Text("poll.none", {"place": "N" * 200}),), toast=True)
    outcome = Outcome("en", [toast, with_buttons, too_long])
    text = catalogues.text("en", toast.parts[0])

    pressed = answers.render(catalogues, outcome, pressed=True)
    assert pressed.toast == text and len(pressed.messages) == 2  # buttons, too long: messages
    typed = answers.render(catalogues, outcome)  # a typed command, the web chat, the terminal
    assert typed.toast == "" and typed.messages[0][0] == text
    assert Answer.from_json(pressed.to_json()) == pressed
