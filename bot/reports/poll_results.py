"""A poll's results as data: the rows of its CSV (`civicbot poll results CODE`) and its entry
in the statistics JSON. Aggregates only, with the same cells withheld as on the page; never a
voter key, never an answer's row.

An open poll shows how many have answered, not what they said: the figures come out when
answering is over (docs/decisions.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from handlers import ballots
from handlers.poll_results import NO_VILLAGE, Tally, closed, funded_set, ranked
from storage.domain import LANGUAGES
from storage.models import Poll, PollOption, Village

COLUMNS = (
    "poll",
    "section",  # option | channel | village | reach | joined_during | gender | age_band
    "group",  # the channel, the village (its number), the gender or age band
    "option",
    "label",
    "count",  # empty: withheld (fewer than 5 people)
    "answers",  # the group's answers (or those who said, for gender and age)
    "population",
    "cost",
    "funded",
    "progress",
)


def rows(
    poll: Poll,
    options: Sequence[PollOption],
    tally: Tally,
    villages: Sequence[Village],
    language: str = "ky",
) -> Iterable[Sequence[object]]:
    """Rows of COLUMNS, the whole first, then each breakdown; labels in `language`."""
    funded = set(funded_set(poll, options, tally)) if poll.kind == ballots.BUDGET else set()
    budget = poll.kind == ballots.BUDGET
    numbers = {v.id: v.position for v in villages}
    for option in ranked(poll, options, tally):
        yield (
            poll.code, "option", "", option.position, option.label(language),
            tally.counts[option.position - 1], tally.total, "",
            option.cost if budget else "",
            ("yes" if option.position in funded else "no") if budget else "",
            option.progress or "",
        )  # fmt: skip
    for section, breakdown in (("channel", tally.by_channel), ("village", tally.by_village)):
        for row in breakdown:
            group = row.key if section == "channel" else numbers.get(int(row.key), "")
            for number, cell in enumerate(row.cells, start=1):
                label = options[number - 1].label(language)
                yield (poll.code, section, group, number, label, _cell(cell), row.total,
                       "", "", "", "")  # fmt: skip
    for reach in tally.reach:
        group = numbers.get(reach.key, "") if reach.key != NO_VILLAGE else "all"
        yield (poll.code, "reach", group, "", "", "", reach.answers, _cell(reach.population),
               "", "", "")  # fmt: skip
    yield (poll.code, "joined_during", "", "", "", tally.joined_during, tally.total,
           "", "", "", "")  # fmt: skip
    for section, said in (("gender", tally.gender), ("age_band", tally.ages)):
        for value, count in said.counts.items():
            yield (poll.code, section, value, "", "", _cell(count), said.said, "", "", "", "")


def _cell(value: int | None) -> object:
    return "" if value is None else value


def as_json(
    poll: Poll, options: Sequence[PollOption], tally: Tally, villages: Sequence[Village]
) -> dict[str, Any]:
    """The poll in the statistics JSON: what it asks, and once closed, its results."""
    entry: dict[str, Any] = {
        "code": poll.code,
        "kind": poll.kind,
        "question": {language: poll.question(language) for language in LANGUAGES},
        "status": "closed" if closed(poll) else "open",
        "opens_at": poll.opens_at.isoformat(timespec="seconds"),
        "closes_at": (poll.closed_at or poll.closes_at).isoformat(timespec="seconds"),
        "answers": tally.total,
    }
    if not closed(poll):
        return entry
    funded = set(funded_set(poll, options, tally)) if poll.kind == ballots.BUDGET else set()
    by_number = {v.id: v for v in villages}
    entry |= {
        "paper": tally.paper,
        "joined_during": tally.joined_during,
        "options": [
            {
                "number": o.position,
                "label": {language: o.label(language) for language in LANGUAGES},
                "count": tally.counts[o.position - 1],
                "percent": tally.percent(o.position),
                **(
                    {"cost": o.cost, "funded": o.position in funded, "progress": o.progress}
                    if poll.kind == ballots.BUDGET
                    else {}
                ),
            }
            for o in ranked(poll, options, tally)
        ],
        "by_channel": [
            {"channel": row.key, "answers": row.total, "counts": list(row.cells)}
            for row in tally.by_channel
        ],
        "by_village": [
            {
                "village": by_number[int(row.key)].position if int(row.key) in by_number else None,
                "answers": row.total,
                "counts": list(row.cells),
            }
            for row in tally.by_village
        ],
        "representativeness": {
            "population": tally.reach[0].population,
            "villages": [
                {
                    "village": by_number[r.key].position,
                    "name": {language: by_number[r.key].name(language) for language in LANGUAGES},
                    "answers": r.answers,
                    "population": r.population,
                }
                for r in tally.reach[1:]
            ],
            "gender": {"said": tally.gender.said, "women": tally.gender.counts["f"]},
            "age_bands": {
                "said": tally.ages.said,
                "counts": dict(tally.ages.counts),
            },
        },
    }
    if poll.kind == ballots.BUDGET:
        spent = sum(o.cost or 0 for o in options if o.position in funded)
        entry["budget"] = {"total": poll.budget_total, "funded": spent}
    return entry
