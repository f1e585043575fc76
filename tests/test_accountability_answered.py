"""The accountability figures of an appeal answered through the real path (issue 30): a
resident appeals in the chat, a staff member answers by SMS (`handlers.answering.answer`,
which the chat inbox and the console share) — first "accepted", which counts as no answer,
then "done", which counts once, as the appeal, in time; a wish only "accepted" is not
answered either — and what is overdue is what the
appeals clock calls overdue (one rule, storage/queries/appeals.py). Days are read from the
rows the bot wrote, so a run across Bishkek's midnight reads the same figures."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from handlers import accountability
from handlers.weeks import Week
from handlers.working_days import working_days_before, working_days_between
from storage.models import Wish
from storage.queries import appeals as appeal_rows
from tests.conftest import Civicbot
from tests.conversation import World
from tests.digests import invite_code
from tests.test_appeals_clock import appeal_by_text, appellant, fresh_place, set_due
from tests.test_appeals_conversation import with_wish

ZONE = "Asia/Bishkek"


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    return conversation_database_url


async def figures_of(world: World, place_id: int, today: date) -> accountability.Accountability:
    async with world.db.session() as session:
        found = await accountability.figures(session, [place_id], Week.of(today), today, ZONE, 14)
    return accountability.of(found, place_id)


async def test_an_appeal_answered_in_the_chat_counts_once_on_its_final_status(
    world: World, civicbot: Civicbot
) -> None:
    key = await fresh_place(civicbot)
    staff = world.conversation("sms", "ru")
    await staff.send(f"ВСТУПИТЬ {await invite_code(civicbot, 'staff', key)}")
    _, appeal = await appellant(world, key, "Көпүрө жыгылды")
    registered, place_id = appeal.registered_on, appeal.municipality_id

    await with_wish(world, key, "Жарык жок")  # a wish, not an appeal
    async with world.db.session() as session:
        wish = await session.scalar(select(Wish).where(Wish.text == "Жарык жок"))
    assert wish is not None
    for reference in (appeal.wish.reference, wish.reference):  # interim: no answer yet
        await staff.send(f"ОТВЕТ {reference} 1 Принято")
    four = (await figures_of(world, place_id, registered)).periods[4]
    assert (four.appeals_answered, four.wishes_answered, four.counted) == (0, 0, 0)

    await staff.send(f"ОТВЕТ {appeal.wish.reference} 3 Мост починили")
    answered = (await appeal_by_text(world, "Көпүрө жыгылды")).answered_on
    assert answered is not None
    shown = await figures_of(world, place_id, answered)
    four = shown.periods[4]
    assert (four.appeals_answered, four.wishes_answered, four.counted, four.in_time) == (1, 0, 1, 1)
    assert four.days == [working_days_between(registered, answered)] and shown.overdue == 0

    # Another appeal past its due day: overdue in the figures as in the clock's list.
    _, late = await appellant(world, key, "Суу түтүгү жарылды")
    await set_due(world, late, working_days_before(late.registered_on, 3))
    shown = await figures_of(world, place_id, late.registered_on)
    async with world.db.session() as session:
        listed = await appeal_rows.overdue(session, late.registered_on, [place_id])
    assert [a.id for a in listed] == [late.id]
    assert (shown.overdue_appeals, shown.overdue_wishes) == (1, 0)
