"""The console joined to the appeals (handlers/appeals.py): the appellant's identity opened
for staff with the appeals' own seal, the extension form (once, with a reason, the law's
refusals shown on the card, never a 500), and an answer "done" stopping the clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers.appeals import working_days_late
from storage.db import Database
from storage.models import Appeal, AuditEntry
from tests.conftest import Civicbot, Say, StartBot, rows
from tests.console_desk import staff_desk
from tests.fake_telegram import FakeTelegram
from tests.test_console_http import LIGHT, WATER, appeal_on, started, wish_of

REASON = "the district must agree first"


async def appeal_row(database_url: str, wish_id: int) -> Appeal:
    db = Database(database_url)
    try:
        async with db.session() as session:
            found = await session.scalar(select(Appeal).where(Appeal.wish_id == wish_id))
            assert found is not None
            return found
    finally:
        await db.close()


async def test_staff_extend_an_appeal_once_with_a_reason_and_the_resident_hears(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    light = await wish_of(database_url, LIGHT)
    await appeal_on(runtime, database_url, light, "Асанов Үсөн", "Ленин көч. 5", days=3)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8170)
    _, deputy = await staff_desk(runtime, telegram, civicbot, 8171, role="deputy")
    target = f"/staff/wish/{light.reference}"

    card = await desk.get(target)
    # Sealed as handlers/appeals.py seals it: opened for staff.
    assert "Асанов Үсөн" in card.text and "Ленин көч. 5" in card.text
    assert f'action="{target}/extend"' in card.text
    form = {"csrf": card.csrf(), "list": "", "days": "5", "reason": REASON}
    before = await appeal_row(database_url, light.id)

    # Malformed days and a missing token are refused, never a 500; nothing moves.
    for days in ("٣", "9" * 30, "0", "", "x"):
        page = await desk.post(f"{target}/extend", {**form, "days": days})
        assert page.status == 400 and "Traceback" not in page.text, days
    refused = await desk.post(f"{target}/extend", {**form, "days": "99"})
    assert say("en", "appeal.extend_days", most=14) in refused.text
    assert REASON in refused.text  # the reason as typed, to send again
    assert (await desk.post(f"{target}/extend", {**form, "csrf": ""})).status == 403
    deputy_csrf = (await deputy.get(target)).csrf()
    assert (await deputy.post(f"{target}/extend", {**form, "csrf": deputy_csrf})).status == 403
    assert (await appeal_row(database_url, light.id)).due_on == before.due_on

    extended = await desk.post(f"{target}/extend", form)
    assert extended.status == 303
    assert extended.headers["Location"] == f"{target}?extended=1"
    after = await appeal_row(database_url, light.id)
    assert after.due_on > before.due_on and after.extended_reason == REASON
    shown = await desk.get(extended.headers["Location"])
    assert say("en", "appeal.extend_saved", number="N-7", due=after.due_on.isoformat()) in (
        shown.text
    )
    await telegram.wait_for_sends(
        lambda: any(REASON in str(c.params.get("text")) for c in telegram.delivered_to(8101))
    )

    # Once only, as the law allows: the refusal on the card, a 4xx.
    again = await desk.post(f"{target}/extend", form)
    assert again.status == 400 and say("en", "appeal.extend_once", number="N-7") in again.text
    assert (await appeal_row(database_url, light.id)).due_on == after.due_on
    [entry] = [e for e in await rows(database_url, AuditEntry) if e.action == "extend"]
    assert (entry.subject, entry.via, entry.detail["days"]) == (light.reference, "console", 5)


async def test_answering_an_appeal_done_stops_its_clock_in_the_console(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    light, water = await wish_of(database_url, LIGHT), await wish_of(database_url, WATER)
    await appeal_on(runtime, database_url, light, "Асанов Үсөн", "Ленин көч. 5", days=-2)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8172)

    overdue = await desk.get("/staff?due=overdue")
    assert f"/staff/wish/{light.reference}" in overdue.text
    card = await desk.get(f"/staff/wish/{light.reference}")
    late = working_days_late((await appeal_row(database_url, light.id)).due_on, bishkek_today())
    assert "· " + say("en", "appeal.inbox_overdue", days=late) in card.text  # as in the chat
    assert "· " + say("en", "appeal.inbox_overdue", days=late) in overdue.text
    form = {"csrf": card.csrf(), "version": card.version(), "status": "done", "text": "Done"}
    assert (await desk.post(f"/staff/wish/{light.reference}", form)).status == 303

    assert (await appeal_row(database_url, light.id)).answered_on is not None
    for due in ("overdue", "week"):
        listed = await desk.get(f"/staff?due={due}")
        assert f"/staff/wish/{light.reference}" not in listed.text, due
    answered = await desk.get(f"/staff/wish/{light.reference}")
    assert "· " + say("en", "appeal.inbox_overdue", days=late) not in answered.text
    assert f'action="/staff/wish/{light.reference}/extend"' not in answered.text
    assert f"/staff/wish/{water.reference}" not in (await desk.get("/staff?due=overdue")).text


def bishkek_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Bishkek")).date()
