"""The legal clock of appeals (handlers/appeals.py), run by the scheduler every few minutes:
the municipality's staff are reminded REMIND_BEFORE working days before an appeal falls due
and on its due day; the day after, an unanswered appeal is marked overdue and its resident
told, and whom they can turn to (the council's deputies).

Each reminder and the mark is stamped by a conditional UPDATE in the transaction that writes
its notices, so two workers (or a run repeated) send each once. A run that missed a day
sends only what is due now: the due day's reminder, not also the earlier one, and the
earlier one says the working days really left. Nothing goes before SEND_FROM local time.
The notices name the appeal's number, its wish's reference, topic and due date — never the
appellant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import appeals
from handlers.dates import Day
from handlers.working_days import working_days_before, working_days_between
from storage import queries
from storage.db import Database
from storage.models import Appeal
from storage.queries import appeals as appeal_rows
from storage.queries.appeals import Stamp

REMIND_BEFORE = 3  # working days
# The appeals the clock reads are due within this many calendar days, REMIND_BEFORE working
# days and more (three weeks hold fifteen weekdays, never twelve holidays); `_stage` then
# counts working days exactly. So no working day is counted, and the holiday calendar not
# loaded (handlers/working_days.py), while no appeal is running.
HORIZON = timedelta(weeks=REMIND_BEFORE)
# Nothing is sent before this local hour: the clock runs through the night (the scheduler,
# bot/digests/schedule.py), and an overdue notice just after midnight can wait till morning.
SEND_FROM = time(9)
DUE_SOON = "appeal.due_left"  # to staff, REMIND_BEFORE working days before, the days left
# (appeal.due_soon, without them: only for notices queued before it; remove in time)
DUE_TODAY = "appeal.due_today"  # to staff, on the day
OVERDUE_STAFF = "appeal.overdue_staff"  # to staff, the day after
OVERDUE_NOTICE = "appeal.overdue_notice"  # to the resident

log = logging.getLogger(__name__)


@dataclass
class Tally:
    before: int = 0
    due: int = 0
    overdue: int = 0


async def tick(db: Database, now: datetime) -> Tally:
    """Send what the clock says is due at `now`; how many appeals got which."""
    today = appeals.local_day(now)
    tally = Tally()
    if now.astimezone(ZoneInfo(appeals.RULES.timezone)).time() < SEND_FROM:
        return tally
    async with db.session() as session, session.begin():
        for appeal in await appeal_rows.running(session, today + HORIZON):
            stage = _stage(appeal, today)
            if stage is None or not await appeal_rows.stamp(
                session, appeal.id, stage, now, appeal.due_on
            ):
                continue
            if stage == "overdue_at":
                await _tell_staff(session, appeal, OVERDUE_STAFF)
                await appeals.tell_resident(session, appeal, OVERDUE_NOTICE)
                tally.overdue += 1
            elif stage == "reminded_due_at":  # the earlier reminder, if missed, is not sent now
                await appeal_rows.stamp(
                    session, appeal.id, "reminded_before_at", now, appeal.due_on
                )
                await _tell_staff(session, appeal, DUE_TODAY)
                tally.due += 1
            else:
                left = working_days_between(today, appeal.due_on)  # fewer if sent late
                await _tell_staff(session, appeal, DUE_SOON, days=left)
                tally.before += 1
    if tally.before or tally.due or tally.overdue:
        log.info(
            "appeals: %d reminded before, %d on the day, %d marked overdue",
            tally.before,
            tally.due,
            tally.overdue,
        )
    return tally


def _stage(appeal: Appeal, today: date) -> Stamp | None:
    """What is due for the appeal today: its overdue mark, the due day's reminder, the one
    REMIND_BEFORE working days before, or nothing yet."""
    if appeal.due_on < today:
        return "overdue_at"
    if appeal.due_on == today:
        return "reminded_due_at"
    if working_days_before(appeal.due_on, REMIND_BEFORE) <= today:
        return "reminded_before_at"
    return None


async def _tell_staff(
    session: AsyncSession, appeal: Appeal, key: str, days: int | None = None
) -> None:
    """Every staff member of the appeal's municipality (not deputies: they do not answer);
    `days`: the working days left, for the reminder before the due day."""
    for role in await queries.officials(session, appeal.municipality_id):
        if role.role != "staff":
            continue
        values: dict[str, object] = {
            "number": appeal.number,
            "reference": appeal.wish.reference,
            "topic": {"t": f"category.{appeal.wish.category}"},
            "due": str(Day(appeal.due_on, role.person.language)),
        }
        if days is not None:
            values["days"] = days
        await queries.add_notice(session, role.person_id, key, values)
