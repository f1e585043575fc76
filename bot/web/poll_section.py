"""The polls on a municipality's public page (`/m/KEY`): an open one's question, until when
it is answered and how; a closed one's results, drawn as bars (inline SVG, as the topics
are), by village and by channel with paper apart and withheld cells marked, and beside them
who answered. A budget round adds each item's cost, whether it is funded, and its progress.
Words come from the catalogues, in the visitor's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import ballots, poll_results
from handlers.dates import day_month
from handlers.poll_results import NO_VILLAGE, PAPER, Row, cell, funded_set
from handlers.types import Text
from storage import queries
from storage.models import Municipality, Poll, utcnow

SHOWN_FOR = timedelta(days=365)  # closed polls stay on the page this long

Say = Callable[[Text], str]


async def polls_of(
    session: AsyncSession, place: Municipality, language: str, say: Say, timezone: str
) -> list[dict[str, Any]]:
    now = utcnow()
    zone = ZoneInfo(timezone)
    shown = []
    for poll in await queries.polls_shown(session, place.id, now - SHOWN_FOR, now):
        options, tally = await poll_results.tally_of(session, poll)
        entry: dict[str, Any] = {"code": poll.code, "question": poll.question(language)}
        if not poll_results.closed(poll):
            closes = day_month(ballots.last_day(poll, timezone), language)
            entry |= {
                "open": say(
                    Text("poll_results.page_open", {"closes": closes, "total": tally.total})
                ),
                "how": say(Text("poll_results.page_how", {"code": poll.code})),
            }
            shown.append(entry)
            continue
        villages = await queries.villages_of(session, place.id)
        ended = (poll.closed_at or poll.closes_at).astimezone(zone).date()
        funded = set(funded_set(poll, options, tally)) if poll.kind == ballots.BUDGET else set()
        largest = max(tally.counts, default=0) or 1
        names = {v.id: v.name(language) for v in villages}
        entry |= {
            "summary": say(
                Text(
                    "poll_results.page_closed",
                    {
                        "closed": day_month(ended, language),
                        "total": tally.total,
                        "paper": tally.paper,
                        "joined": tally.joined_during,
                    },
                )
            ),
            "chart": say(Text("poll_results.page_chart", {"question": poll.question(language)})),
            "bars": [
                {
                    "number": o.position,
                    "label": o.label(language),
                    "count": tally.counts[o.position - 1],
                    "percent": tally.percent(o.position),
                    "width": round(tally.counts[o.position - 1] * 100 / largest, 1),
                    "notes": _notes(poll, o.position in funded, o.cost, o.progress, say),
                }
                for o in poll_results.ranked(poll, options, tally)
            ],
            "numbers": list(range(1, len(options) + 1)),
            "villages": [
                _row(names.get(int(r.key)) or say(Text("poll_results.no_village")), r)
                for r in tally.by_village
                if int(r.key) != NO_VILLAGE or r.total
            ],
            "channels": [_row(_channel(str(r.key), say), r) for r in tally.by_channel],
            "who": [say(line) for line in poll_results.reach_lines(tally, villages, language)],
        }
        if poll.kind == ballots.BUDGET:
            spent = sum(o.cost or 0 for o in options if o.position in funded)
            entry["budget"] = say(
                Text("budget.page_total", {"budget": poll.budget_total or 0, "spent": spent})
            )
        shown.append(entry)
    return shown


def _notes(poll: Poll, funded: bool, cost: int | None, progress: str | None, say: Say) -> str:
    if poll.kind != ballots.BUDGET:
        return ""
    notes = [
        say(Text("budget.cost", {"cost": cost or 0})),
        say(Text("budget.funded" if funded else "budget.not_funded")),
    ]
    if progress:
        notes.append(say(Text("budget.progress_line", {"progress": progress})))
    return " · ".join(notes)


def _channel(key: str, say: Say) -> str:
    return say(Text("poll_results.paper") if key == PAPER else Text(f"channel.{key}"))


def _row(name: str, row: Row) -> tuple[str, int, list[str]]:
    return name, row.total, [cell(c) for c in row.cells]
