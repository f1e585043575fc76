"""What a digest says about one municipality and one week, as numbers and short quotes,
before any language: `collect` reads them, bot/digests/text.py words them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.digests import accountability as on_time
from bot.digests import overdue
from bot.digests.overdue import OverdueLine
from bot.reports.bribe_stats import Figure, margin, shown
from handlers import ballots, poll_results
from handlers.initiatives import days_left
from handlers.poll_results import Tally
from handlers.quotes import Quote, quotable
from handlers.weeks import Week
from storage import queries
from storage.channels import CARD
from storage.domain import bribe_service_codes, wish_categories
from storage.models import Initiative, Municipality, Poll, PollOption, Wish, utcnow

WAITING = 3  # wishes waiting longest for an answer, named in the digest


@dataclass(frozen=True)
class InitiativeLine:
    initiative: Initiative
    this_week: int  # signatures counted this week
    days_left: int  # of signing, from the day the digest is made
    total: int  # signatures that counted at the end of the week (a past week: not today's)

    @property
    def percent(self) -> int:
        return self.total * 100 // max(self.initiative.threshold, 1)


@dataclass(frozen=True)
class CampaignLine:
    name: str
    code: str
    cards: int  # paper cards typed at its stand this week
    online: int  # wishes that came through its link or #CODE this week


@dataclass(frozen=True)
class PollLine:
    """A poll that closed in the week (its results) or was open at its end (answers so far)."""

    poll: Poll
    options: Sequence[PollOption]
    tally: Tally
    closed: bool
    closes_on: date  # in TIMEZONE


@dataclass
class Digest:
    municipality: Municipality
    week: Week
    wishes: Counter[tuple[str, str]]  # (kind, category) -> this week
    before: Counter[tuple[str, str]]  # the same, the week before
    quotes: list[Quote]  # every wish that may be quoted, newest first: see `choose_quotes`
    bribes: dict[tuple[int, str], int]  # (service, outcome) -> reports given this week
    initiatives: list[InitiativeLine]
    campaigns: list[CampaignLine] = field(default_factory=list)
    week_wishes: list[Wish] = field(default_factory=list, repr=False)  # for the staff CSV
    # The wishes staff answered this week, each once, by the last status it was given: a
    # wish answered twice is one wish, so the statuses add up to `answered`.
    answers: Counter[str] = field(default_factory=Counter)
    done: list[Wish] = field(default_factory=list, repr=False)  # marked done this week
    waiting: list[Wish] = field(default_factory=list, repr=False)  # unanswered longest
    with_photos: int = 0  # this week's wishes that came with a photo
    made_on: date | None = None  # the day it was made (a past week's: any day after it)
    polls: list[PollLine] = field(default_factory=list, repr=False)
    accountability: on_time.Line | None = None  # answers on time: 4 weeks, the country
    overdue: list[OverdueLine] = field(default_factory=list, repr=False)  # appeals, now

    @property
    def answered(self) -> int:
        """Wishes staff answered this week (not answers: one wish may have had two)."""
        return sum(self.answers.values())

    @property
    def so_far(self) -> bool:
        """The week is not over: its figures run to the day it was made."""
        return self.made_on is not None and self.made_on <= self.week.sunday

    @property
    def last_day(self) -> date:
        """The day its figures run to: the week's Sunday, or today for the week under way."""
        made = self.made_on
        return made if made is not None and made <= self.week.sunday else self.week.sunday

    def total(self, kind: str | None = None, week: str = "this") -> int:
        """Wishes of one kind (or of both) this week or the week before."""
        counts = self.wishes if week == "this" else self.before
        return sum(n for (k, _), n in counts.items() if kind in (None, k))

    def categories(self, kind: str) -> list[tuple[str, int, int]]:
        """(category, this week, week before) for a kind, the most mentioned first."""
        keys = {c for k, c in (*self.wishes, *self.before) if k == kind}
        rows = [(c, self.wishes[(kind, c)], self.before[(kind, c)]) for c in keys]
        order = {category: i for i, category in enumerate(wish_categories())}
        return sorted(rows, key=lambda row: (-row[1], -row[2], order.get(row[0], 99)))

    def bribe_rows(self) -> list[tuple[int, list[int]]]:
        """(service, the counts a reader may see it split into) for each service reported:
        a bribe asked for (paid, refused, no more said) and honest service; a service with
        fewer than 3 reports is one count, not split."""
        rows = []
        for service, count, outcomes in self.bribe_services():
            requests = count - outcomes.get("not_asked", 0)
            rows.append((service, [requests, count - requests] if shown(count) else [count]))
        return rows

    def bribe_services(self) -> list[tuple[int, int, dict[str, int]]]:
        """(service, reports, by outcome) for each service reported this week, most first."""
        totals: Counter[int] = Counter()
        outcomes: dict[int, dict[str, int]] = {}
        for (service, outcome), n in self.bribes.items():
            totals[service] += n
            outcomes.setdefault(service, {})[outcome] = n
        order = {code: i for i, code in enumerate(bribe_service_codes())}
        ranked = sorted(totals, key=lambda s: (-totals[s], order.get(s, 99)))
        return [(service, totals[service], outcomes[service]) for service in ranked]

    @property
    def bribe_total(self) -> int:
        return sum(self.bribes.values())

    @property
    def bribe_total_shown(self) -> Figure:
        """The week's number of bribe reports as a reader may see it beside the services'."""
        return margin([count for _, counts in self.bribe_rows() for count in counts])

    @property
    def signatures(self) -> int:
        return sum(line.this_week for line in self.initiatives)

    @property
    def quiet(self) -> bool:
        """Nothing from residents this week: no wishes, reports or signatures."""
        return not self.wishes and not self.bribes and not self.signatures


async def collect(
    session: AsyncSession,
    municipality: Municipality,
    week: Week,
    timezone: str,
    today: date,
    answer_days: int,
) -> Digest:
    start, end = week.bounds(timezone)
    before_start, before_end = week.before().bounds(timezone)
    wishes = list(await queries.wishes_between(session, municipality.id, start, end))
    initiatives = [
        InitiativeLine(
            initiative,
            await queries.signatures_counted_between(
                session, initiative.id, week.monday, week.sunday
            ),
            days_left(initiative, today) if initiative.closed_on is None else 0,
            await queries.signatures_counted_by(session, initiative.id, week.sunday),
        )
        for initiative in await queries.initiatives_open_during(
            session, municipality.id, week.monday, week.sunday
        )
    ]
    return Digest(
        municipality=municipality,
        week=week,
        wishes=Counter((w.kind, w.category) for w in wishes),
        before=Counter(
            await queries.wish_counts_between(session, municipality.id, before_start, before_end)
        ),
        quotes=quotable(wishes),
        bribes=await queries.bribe_counts_between(
            session, municipality.id, week.monday, week.sunday
        ),
        initiatives=initiatives,
        week_wishes=wishes,
        answers=Counter(await queries.answer_counts_between(session, municipality.id, start, end)),
        done=list(await queries.done_between(session, municipality.id, start, end)),
        waiting=list(await queries.waiting_longest(session, municipality.id, end, WAITING)),
        with_photos=await queries.count_with_photos(session, municipality.id, start, end),
        campaigns=[
            CampaignLine(
                campaign.name,
                campaign.code,
                sum(1 for w in wishes if w.campaign_id == campaign.id and w.channel == CARD),
                sum(1 for w in wishes if w.campaign_id == campaign.id and w.channel != CARD),
            )
            for campaign in await queries.campaigns_during(
                session, municipality.id, week.monday, week.sunday
            )
        ],
        made_on=today,
        polls=await _polls(session, municipality, start, end, timezone),
        accountability=await on_time.collect(
            session, municipality, week, timezone, today, answer_days
        ),
        overdue=await overdue.collect(session, municipality.id, today),  # as it stands now
    )


async def _polls(
    session: AsyncSession, municipality: Municipality, start: datetime, end: datetime, timezone: str
) -> list[PollLine]:
    """Polls that closed in the week, and those still open at its end (or now, for the
    week so far: a poll closing later this week is open, one not yet open is left out)."""
    lines = []
    now = utcnow()
    for poll in await queries.polls_shown(session, municipality.id, start, end):
        ended = poll.closed_at or poll.closes_at
        if ended < start or poll.opens_at > now:
            continue
        options, tally = await poll_results.tally_of(session, poll)
        closes_on = ballots.last_day(poll, timezone)
        closed = poll_results.closed(poll) and ended < end
        lines.append(PollLine(poll, options, tally, closed, closes_on))
    return lines
