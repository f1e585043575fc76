"""What a resident chose at a poll is kept only under a pseudonym, never with the delivery
it came in (ARCHITECTURE.md §8): the answer kept for a redelivery (`inbound_deliveries.reply`)
names no choice, shows no pick's ✓ marks and holds nothing the closing questions were
answered with, by SMS and on Telegram. Issue 29, review item 1."""

from __future__ import annotations

from sqlalchemy import select

from bot.channels.answers import Answer
from handlers import poll_profile, polls, router
from storage.models import InboundDelivery
from tests.conftest import Say
from tests.conversation import World
from tests.test_polls_answer import add_villages, fresh_place, open_poll, placed, sms


async def kept_replies(world: World) -> list[str]:
    """Every answer kept for a redelivery, as the resident would read it again."""
    async with world.db.session() as session:
        rows = (await session.scalars(select(InboundDelivery.reply))).all()
    texts = []
    for reply in rows:
        if reply and reply.startswith("{"):  # a guided channel's answer, as JSON
            for text, keyboard in Answer.from_json(reply).messages:
                texts.append(" ".join([text, *(label for row in keyboard for label, _ in row)]))
        elif reply:
            texts.append(reply)
    return texts


def named(texts: list[str], telltales: list[str]) -> list[str]:
    return [t for t in telltales if any(t in text for text in texts)]


async def test_an_answer_by_sms_is_not_kept_with_its_delivery(world: World) -> None:
    place = await fresh_place(world)
    await add_villages(world, place, "Ак-Жар", "Көк-Жар")
    resident = await placed(world, "sms", place, language="en")
    poll = await open_poll(world, place)

    await resident.send(f"POLL {poll.code} 2")  # thanks, then the village question
    await resident.send("2")  # Көк-Жар; the age question
    await resident.send("3")  # 30-44; the gender question
    await resident.send("1")  # f; thanks
    await resident.send(f"POLL {poll.code} 3")  # changed
    await resident.send(f"POLL {poll.code}")  # the poll, with "your answer: 3"
    await resident.send(f"POLL {poll.code} 7")  # refused: "your earlier answer stays: 3"

    telltales = [
        sms("en", "poll.thanks", code=poll.code, choices="2"),
        sms("en", "poll.changed", code=poll.code, choices="3"),
        sms("en", "poll.answered", choices="3"),
        sms("en", "poll.kept", choices="3"),
        sms("en", "poll.ask_age"),
        sms("en", "poll.ask_gender"),
        sms("en", "poll.profile_thanks"),
    ]
    kept = await kept_replies(world)
    assert kept  # the place keyword's answer is kept: the check looks at real rows
    assert named(kept, telltales) == []


async def test_an_answer_on_telegram_is_not_kept_with_its_delivery(world: World, say: Say) -> None:
    place = await fresh_place(world)
    await add_villages(world, place, "Ала-Тоо")
    resident = await placed(world, "telegram", place, language="en")
    single = await open_poll(world, place)
    priority = await open_poll(world, place, ("A", "B", "C"), kind="priority", max_choices=2)

    await resident.press_data(f"poll:{single.code}:2")  # thanks, the village question
    await resident.press("Ала-Тоо")  # the age question
    await resident.press(say("en", "poll.age_18_29"))  # the gender question
    await resident.press(say("en", "poll.gender_m"))  # thanks
    await resident.press_data(f"poll:{single.code}:3")  # changed
    await resident.send("/polls")  # each poll; the answered one with ✓ and "your answer"
    await resident.press_data(polls.button(priority.code, polls.PICK))
    await resident.press("3. C (en)")  # ✓ 3, in the keyboard and its bit mask
    await resident.press(say("en", "poll.pick_done"))

    telltales = [
        say("en", "poll.thanks", code=single.code, choices="2. Суу (en)"),
        say("en", "poll.changed", code=single.code, choices="3. Мектеп (en)"),
        say("en", "poll.answered", choices="3. Мектеп (en)"),
        say("en", "poll.thanks", code=priority.code, choices="3. C (en)"),
        polls.CHOSEN,
        say("en", "poll.ask_age"),
        say("en", "poll.ask_gender"),
        say("en", "poll.profile_thanks"),
        "Chosen: 1",  # the pick's count so far
    ]
    kept = await kept_replies(world)
    assert kept
    assert named(kept, telltales) == []


def test_the_pick_and_the_closing_questions_are_declared_private() -> None:
    for name in (polls.PICK_STEP, *poll_profile.STEPS):
        assert router.STEPS[name].private, name
    assert router.unfit_steps() == []
