"""The digest's section on overdue appeals (issue 30): each unanswered appeal past its due
date, by its number, its wish's reference and topic, and how many working days late — never
who made it (deputies read the digest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.wording import Say
from handlers.appeals import working_days_late
from storage.queries import appeals as appeal_rows


@dataclass(frozen=True)
class OverdueLine:
    number: str
    reference: str
    category: str
    days_late: int  # working days late on the day the digest is made (at least 1)


async def collect(session: AsyncSession, municipality_id: int, today: date) -> list[OverdueLine]:
    return [
        OverdueLine(
            appeal.number,
            appeal.wish.reference,
            appeal.wish.category,
            working_days_late(appeal.due_on, today),
        )
        for appeal in await appeal_rows.overdue(session, today, [municipality_id])
    ]


def lines(overdue: Sequence[OverdueLine], say: Say) -> list[str]:
    if not overdue:
        return []
    said = [say("appeal.digest_header", count=len(overdue))]
    for line in overdue:
        topic = say(f"category.{line.category}")
        values = {"number": line.number, "reference": line.reference, "topic": topic}
        said.append("   ⚖️ " + say("appeal.digest_line", days=line.days_late, **values))
    return said
