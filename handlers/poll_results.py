"""A poll's results, counted: by option, by village and by channel (paper separate, and in
every figure), with the cells a reader could single a few people out by withheld, and beside
them how far the answers stand for the place (answers against population, women's share,
age bands among those who chose to say).

The counting rules are pure functions over `Group`s (answers alike in every counted trait,
with how many there are: storage/queries/poll_results.py reads them so); `live_results` is
the staff's and deputies' view of them in the bot. What follows a poll's close (notices, a
budget round's funded items, progress): handlers/poll_outcome.py.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import ballots
from handlers.context import Context
from handlers.types import Reply, Text
from storage import queries
from storage.models import Poll, PollOption, Village, utcnow

MIN_CELL = 5  # people: a breakdown's cell below it is withheld (ARCHITECTURE §8)
WITHHELD = f"<{MIN_CELL}"  # how a withheld cell reads, wherever it is shown
PAPER = "paper"
CHANNEL_ORDER = ("telegram", "sms", "whatsapp", "web", PAPER)
AGE_BANDS = ("18-29", "30-44", "45-59", "60+")
NO_VILLAGE = 0  # the row of answers that named no village
SHORT_LABEL = 20  # characters of an option quoted in an SMS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Group:
    """Answers alike in everything counted, and how many of them there are."""

    choices: tuple[int, ...]
    channel: str
    village_id: int | None
    age_band: str | None
    gender: str | None
    joined_during: bool
    count: int


@dataclass(frozen=True)
class Row:
    """One group of a breakdown (a village, a channel): its answers, always shown, and each
    option's count in it, None where withheld."""

    key: str | int
    total: int
    cells: tuple[int | None, ...]


@dataclass(frozen=True)
class Reach:
    """Answers against the people living there (population None: not known)."""

    key: int  # a village's id; NO_VILLAGE for the whole municipality
    answers: int
    population: int | None

    @property
    def per_thousand(self) -> float | None:
        if not self.population:
            return None
        return round(self.answers * 1000 / self.population, 1)


@dataclass(frozen=True)
class Said:
    """Among those who chose to say (their number): each value's count, None if withheld."""

    said: int
    counts: Mapping[str, int | None]

    def percent(self, value: str) -> int | None:
        count = self.counts.get(value)
        return None if count is None or not self.said else round(count * 100 / self.said)


@dataclass(frozen=True)
class Tally:
    options: int
    total: int  # people (and paper ballots) who answered
    counts: tuple[int, ...]  # per option, all channels and paper together
    paper: int  # of `total`, paper ballots
    joined_during: int  # of `total`, people who joined during the poll
    by_channel: tuple[Row, ...]
    by_village: tuple[Row, ...]
    reach: tuple[Reach, ...]  # the whole municipality first, then each village listed
    gender: Said
    ages: Said

    def percent(self, position: int) -> int:
        """Of the people who answered, how many chose option `position` (in %)."""
        return round(self.counts[position - 1] * 100 / self.total) if self.total else 0

    def leading(self) -> int | None:
        """The option chosen most (the lower number on a tie); None with no answer."""
        if not self.total:
            return None
        return max(range(1, self.options + 1), key=lambda p: (self.counts[p - 1], -p))


def count(
    groups: Iterable[Group],
    options: int,
    single: bool,
    villages: Sequence[Village] = (),
    population: int | None = None,
) -> Tally:
    """The tally of a poll's answers (`single`: one choice each, so a row's cells add up to
    its total). Priority votes count each chosen option once."""
    groups = list(groups)
    total = sum(g.count for g in groups)
    counts = [0] * options
    for group in groups:
        for choice in group.choices:
            if 1 <= choice <= options:
                counts[choice - 1] += group.count
    by_channel = _breakdown(groups, options, lambda g: g.channel)
    by_village = _breakdown(groups, options, lambda g: g.village_id or NO_VILLAGE)
    channel_rows = sorted(by_channel.items(), key=lambda kv: _channel_rank(str(kv[0])))
    village_rank = {v.id: v.position for v in villages}
    village_rows = sorted(by_village.items(), key=lambda kv: village_rank.get(int(kv[0]), 10**6))
    answers_in = {int(key): row[0] for key, row in by_village.items()}
    return Tally(
        options=options,
        total=total,
        counts=tuple(counts),
        paper=sum(g.count for g in groups if g.channel == PAPER),
        joined_during=sum(g.count for g in groups if g.joined_during),
        by_channel=suppress(channel_rows, single),
        by_village=suppress(village_rows, single),
        reach=(
            Reach(NO_VILLAGE, total, population),
            *(Reach(v.id, answers_in.get(v.id, 0), v.population) for v in villages),
        ),
        gender=_said(groups, lambda g: g.gender, ("f", "m")),
        ages=_said(groups, lambda g: g.age_band, _bands(groups)),
    )


def _channel_rank(channel: str) -> int:
    return CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNEL_ORDER)


def _breakdown(groups: list[Group], options: int, key: object) -> dict[str | int, list[int]]:
    """Each group's [answers, option 1, option 2, …]."""
    rows: dict[str | int, list[int]] = {}
    for group in groups:
        row = rows.setdefault(key(group), [0] * (options + 1))  # type: ignore[operator]
        row[0] += group.count
        for choice in group.choices:
            if 1 <= choice <= options:
                row[choice] += group.count
    return rows


def suppress(rows: Sequence[tuple[str | int, list[int]]], single: bool) -> tuple[Row, ...]:
    """Rows with every cell under MIN_CELL withheld, and then as many more as it takes that
    none can be worked out by subtraction: from the option's count over all rows (a column
    with one cell withheld), or from the row's total where each answer is one choice (a row
    with one withheld). The one more withheld is the smallest shown beside it."""
    cells = [list(row[1:]) for _, row in rows]
    hidden = [[c < MIN_CELL for c in row] for row in cells]
    changed = True
    while changed:
        changed = False
        lines = [[(r, o) for o in range(len(row))] for r, row in enumerate(cells)] if single else []
        columns = [
            [(r, o) for r in range(len(cells))] for o in range(len(cells[0]) if cells else 0)
        ]
        for line in [*lines, *columns]:
            if len(line) < 2 or sum(hidden[r][o] for r, o in line) != 1:
                continue
            shown = [(cells[r][o], r, o) for r, o in line if not hidden[r][o]]
            _, r, o = min(shown)
            hidden[r][o] = changed = True
    return tuple(
        Row(key, row[0], tuple(None if hidden[r][o] else c for o, c in enumerate(cells[r])))
        for r, (key, row) in enumerate(rows)
    )


def _bands(groups: list[Group]) -> tuple[str, ...]:
    """The usual age bands, then any other a stored answer holds (none is dropped)."""
    other = {g.age_band for g in groups if g.age_band and g.age_band not in AGE_BANDS}
    return (*AGE_BANDS, *sorted(other))


def _said(groups: list[Group], trait: object, values: Sequence[str]) -> Said:
    """Each value's count among those who said, withheld as a breakdown's row is: beside
    their number, a lone withheld count would be that number less the others."""
    counts: Counter[str] = Counter()
    for group in groups:
        value = trait(group)  # type: ignore[operator]
        if value in values:
            counts[value] += group.count
    said = sum(counts.values())
    [row] = suppress([("said", [said, *(counts[v] for v in values)])], single=True)
    return Said(said, dict(zip(values, row.cells, strict=True)))


def closed(poll: Poll) -> bool:
    """Answering is over: closed, or past its closing time."""
    return poll.status == "closed" or (poll.status == "open" and poll.closes_at <= utcnow())


def funded_set(poll: Poll, options: Sequence[PollOption], tally: Tally) -> list[int]:
    """A budget round's funded items: as stored at its close, else as the votes say now."""
    if any(o.funded is not None for o in options):
        return [o.position for o in options if o.funded]
    votes = {p: tally.counts[p - 1] for p in range(1, tally.options + 1)}
    return ballots.funded(options, votes, poll.budget_total or 0)


def ranked(poll: Poll, options: Sequence[PollOption], tally: Tally) -> list[PollOption]:
    """Options as results list them: a budget round's items by votes, in the order its
    funding takes them (most votes, then the cheaper, then the lower number); a poll's in
    their own order."""
    if poll.kind != ballots.BUDGET:
        return list(options)
    return sorted(options, key=lambda o: (-tally.counts[o.position - 1], o.cost or 0, o.position))


async def tally_of(session: AsyncSession, poll: Poll) -> tuple[Sequence[PollOption], Tally]:
    """A poll's options and its tally, read now."""
    options = await queries.options_of(session, poll.id)
    groups = [
        Group(tuple(int(c) for c in choices.split()), channel, village, age, gender, joined, n)
        for choices, channel, village, age, gender, joined, n in await queries.answer_groups(
            session, poll.id
        )
    ]
    villages = await queries.villages_of(session, poll.municipality_id)
    single = poll.max_choices == 1  # one choice each, whatever the kind: rows add up
    population = poll.municipality.population
    return options, count(groups, len(options), single, villages, population)


# --- the bot's words --------------------------------------------------------------------


def option_lines(
    poll: Poll, options: Sequence[PollOption], tally: Tally, language: str
) -> list[Text]:
    funded = set(funded_set(poll, options, tally)) if poll.kind == ballots.BUDGET else set()
    lines = []
    for option in ranked(poll, options, tally):
        values = {
            "number": option.position,
            "label": option.label(language),
            "count": tally.counts[option.position - 1],
            "percent": tally.percent(option.position),
        }
        key = "poll_results.option_funded" if option.position in funded else "poll_results.option"
        lines.append(Text(key, values))
    return lines


def village_lines(tally: Tally, villages: Sequence[Village], language: str) -> list[Text]:
    names = {v.id: v.name(language) for v in villages}
    lines = []
    for row in tally.by_village:
        name = names.get(int(row.key)) if row.key != NO_VILLAGE else None
        village = Text("poll_results.no_village") if name is None else name
        lines.append(
            Text("poll_results.row", {"name": village, "total": row.total, "cells": _cells(row)})
        )
    return lines


def cell(count: int | None) -> str:
    """A breakdown's cell as shown: its count, or WITHHELD."""
    return WITHHELD if count is None else str(count)


def _cells(row: Row) -> str:
    return " · ".join(f"{n}: {cell(c)}" for n, c in enumerate(row.cells, start=1))


def channel_lines(tally: Tally) -> list[Text]:
    return [
        Text(
            "poll_results.row",
            {
                "name": Text(f"channel.{row.key}")
                if row.key != PAPER
                else Text("poll_results.paper"),
                "total": row.total,
                "cells": _cells(row),
            },
        )
        for row in tally.by_channel
    ]


def reach_lines(tally: Tally, villages: Sequence[Village], language: str) -> list[Text]:
    names = {v.id: v.name(language) for v in villages}
    lines = []
    for reach in tally.reach:
        name = names.get(reach.key) or Text("poll_results.whole")
        if reach.per_thousand is None:
            lines.append(
                Text("poll_results.reach_unknown", {"name": name, "answers": reach.answers})
            )
        else:
            values = {
                "name": name,
                "answers": reach.answers,
                "population": reach.population,
                "per_thousand": reach.per_thousand,
            }
            lines.append(Text("poll_results.reach", values))
    women = tally.gender.percent("f")
    lines.append(
        Text("poll_results.women", {"percent": women, "said": tally.gender.said})
        if women is not None
        else Text("poll_results.women_withheld", {"said": tally.gender.said})
    )
    ages = ", ".join(
        f"{band}: {WITHHELD if n is None else f'{tally.ages.percent(band)}%'}"
        for band, n in tally.ages.counts.items()
    )
    lines.append(Text("poll_results.ages", {"ages": ages, "said": tally.ages.said}))
    return lines


async def live_results(ctx: Context, poll: Poll) -> Reply:
    """The results so far (or final), for the poll's municipality's staff and deputies:
    aggregates only, as on the public page."""
    return await results_reply(ctx.session, poll, ctx.language)


async def results_reply(session: AsyncSession, poll: Poll, language: str) -> Reply:
    """A poll's results in words: by option, village and channel, and who answered."""
    options, tally = await tally_of(session, poll)
    villages = await queries.villages_of(session, poll.municipality_id)
    head = Text(
        "poll_results.final_head" if closed(poll) else "poll_results.live_head",
        {
            "code": poll.code,
            "question": poll.question(language),
            "total": tally.total,
            "paper": tally.paper,
            "joined": tally.joined_during,
        },
    )
    parts = [head, *option_lines(poll, options, tally, language)]
    parts += [Text("poll_results.by_village"), *village_lines(tally, villages, language)]
    parts += [Text("poll_results.by_channel"), *channel_lines(tally)]
    parts += [Text("poll_results.representativeness"), *reach_lines(tally, villages, language)]
    parts.append(Text("poll_results.withheld_note"))
    return Reply(parts=tuple(parts))
