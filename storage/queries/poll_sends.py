"""Sending a poll: who it reaches, one `PollSend` row per recipient planned once, claimed
before it is sent and settled after (bot/channels/poll_sender.py).

Sending is at least once, as for notices (storage/queries/notices.py): a worker claims a few
rows for LEASE, sends them and settles each at once; a worker that died in between leaves
claims that expire, and those rows are sent again by whoever looks next. Two live workers
never both hold one (the claim is one conditional UPDATE)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.channels import REACHABLE
from storage.models import Person, Poll, PollAnswer, PollSend

LEASE = timedelta(minutes=10)  # the sender gives a send up before it ends
ATTEMPTS = 5  # claims before a row is given up (failed, "attempts")
OVER_CAP = "sms_cap"  # a skipped row's note: past the poll's SMS cap
CLOSED = "closed"  # a skipped row's note: the poll closed before it was sent
PENDING, SENT, SKIPPED, FAILED = "pending", "sent", "skipped", "failed"  # a row's status


@dataclass(frozen=True)
class Audience:
    """Who a poll reaches, counted by channel and language (languages: for the SMS form's
    segments), and how many with no known village a village-bound poll leaves out."""

    by_channel: dict[str, int]
    by_channel_language: dict[tuple[str, str], int]
    no_village: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_channel.values())


def _audience(poll: Poll) -> ColumnElement[bool]:
    """The poll's municipality's reachable people who have not opted out (and, for a
    village-bound poll, whose village is among its villages)."""
    condition = and_(
        Person.municipality_id == poll.municipality_id,
        Person.channel.in_(REACHABLE),
        Person.opted_out.is_(False),
    )
    if poll.villages:
        condition = and_(condition, Person.village_id.in_(poll.villages))
    return condition


async def audience_of(session: AsyncSession, poll: Poll) -> Audience:
    rows = (
        await session.execute(
            select(Person.channel, Person.language, func.count())
            .where(_audience(poll))
            .group_by(Person.channel, Person.language)
        )
    ).all()
    by_channel: dict[str, int] = {}
    by_language: dict[tuple[str, str], int] = {}
    for channel, language, count in rows:
        by_channel[channel] = by_channel.get(channel, 0) + int(count)
        by_language[(channel, language)] = int(count)
    no_village = 0
    if poll.villages:
        no_village = int(
            await session.scalar(
                select(func.count()).where(
                    Person.municipality_id == poll.municipality_id,
                    Person.channel.in_(REACHABLE),
                    Person.opted_out.is_(False),
                    Person.village_id.is_(None),
                )
            )
            or 0
        )
    return Audience(by_channel, by_language, no_village)


async def plan_sends(
    session: AsyncSession, poll: Poll, paid: Sequence[str], now: datetime
) -> tuple[int, int]:
    """One pending row per recipient not planned before (INSERT … SELECT … ON CONFLICT DO
    NOTHING: planning twice plans nobody twice); the rows on `paid` channels (billed as SMS)
    past the poll's `sms_cap` are skipped. (planned now, skipped over the cap now)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    chosen = (
        select(
            literal(poll.id),
            Person.id,
            Person.channel,
            literal(PENDING),
            literal(0),
        )
        .where(_audience(poll))
        .order_by(Person.id)
    )
    columns = ["poll_id", "person_id", "channel", "status", "attempts"]
    result = await session.execute(
        insert(PollSend).from_select(columns, chosen).on_conflict_do_nothing()
    )
    planned = max(int(result.rowcount), 0)  # type: ignore[attr-defined]
    skipped = 0
    if poll.sms_cap is not None and paid:
        within = (
            select(PollSend.id)
            .where(
                PollSend.poll_id == poll.id,
                PollSend.channel.in_(paid),
                or_(PollSend.status != SKIPPED, PollSend.note != OVER_CAP),
            )
            .order_by(PollSend.id)
            .offset(poll.sms_cap)
        )
        past = await session.execute(
            update(PollSend)
            .where(PollSend.id.in_(within.scalar_subquery()), PollSend.status == PENDING)
            .values(status=SKIPPED, note=OVER_CAP, sent_at=now)
            .execution_options(synchronize_session=False)
        )
        skipped = max(int(past.rowcount), 0)  # type: ignore[attr-defined]
    return planned, skipped


@dataclass
class Progress:
    """A poll's rows by status: what `poll list` and the staff's card show."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def planned(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        """ "sent 120/300, pending 170, skipped 5, failed 5" (the parts that are not 0)."""
        c = self.counts
        rest = [f"{s} {c[s]}" for s in (PENDING, SKIPPED, FAILED) if c.get(s)]
        return ", ".join([f"sent {c.get(SENT, 0)}/{self.planned}", *rest])


async def progress_of(session: AsyncSession, poll_ids: Sequence[int]) -> dict[int, Progress]:
    rows = (
        await session.execute(
            select(PollSend.poll_id, PollSend.status, func.count())
            .where(PollSend.poll_id.in_(poll_ids))
            .group_by(PollSend.poll_id, PollSend.status)
        )
    ).all()
    progress = {poll_id: Progress() for poll_id in poll_ids}
    for poll_id, status, count in rows:
        progress[poll_id].counts[status] = int(count)
    return progress


def _free(now: datetime) -> ColumnElement[bool]:
    """Pending, and not held by a live claim."""
    return (PollSend.status == PENDING) & or_(
        PollSend.claimed_at.is_(None), PollSend.claimed_at < now - LEASE
    )


async def claim_sends(
    session: AsyncSession, channels: Sequence[str], limit: int, now: datetime
) -> Sequence[int]:
    """Hold up to `limit` pending rows on these channels, of polls open by now (one planned
    with a later --opens goes when it opens), for LEASE; their ids. Rows claimed
    ATTEMPTS times already (a send that kept crashing its worker) are failed instead."""
    waiting = (
        select(PollSend.id, PollSend.attempts)
        .join(Poll, Poll.id == PollSend.poll_id)
        .where(_free(now), PollSend.channel.in_(channels), Poll.opens_at <= now)  # when it opens
        .order_by(PollSend.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":  # another worker takes other rows
        waiting = waiting.with_for_update(skip_locked=True, of=PollSend)  # not the poll row
    # The ids first, then the claim: PostgreSQL may run an IN (… LIMIT … SKIP LOCKED)
    # subquery again while the UPDATE goes, and claim more rows than asked. Spent rows are
    # looked for among these only, which the index on (status, channel, id) finds at once:
    # an UPDATE over every pending row scanned all of them at each claim (100,000 planned:
    # most of the server's CPU while it sent). The UPDATEs name the rows by id alone: this
    # transaction holds them (PostgreSQL's FOR UPDATE; SQLite's one writer), so nothing has
    # changed them since, and a condition on their status led SQLite's planner to that index,
    # a scan of every pending row, rather than to the ids.
    while True:
        found = (await session.execute(waiting)).all()
        spent = [send_id for send_id, attempts in found if attempts >= ATTEMPTS]
        ids = [send_id for send_id, attempts in found if attempts < ATTEMPTS]
        if spent:
            await session.execute(
                update(PollSend)
                .where(PollSend.id.in_(spent))
                .values(status=FAILED, note="attempts", sent_at=now)
                .execution_options(synchronize_session=False)
            )
        if ids or not spent:  # else a window of spent rows only: the next one
            break
    if not ids:
        return []
    result = await session.execute(
        update(PollSend)
        .where(PollSend.id.in_(ids))
        .values(claimed_at=now, attempts=PollSend.attempts + 1)
        .returning(PollSend.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())


async def claimed_send(session: AsyncSession, send_id: int) -> tuple[PollSend, Poll, Person] | None:
    row = (
        await session.execute(
            select(PollSend, Poll, Person)
            .join(Poll, Poll.id == PollSend.poll_id)
            .join(Person, Person.id == PollSend.person_id)
            .where(PollSend.id == send_id)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


async def settle_send(
    session: AsyncSession,
    send_id: int,
    status: str,
    now: datetime,
    note: str | None = None,
    claimed_at: datetime | None = None,
) -> None:
    """The row is done with: sent, skipped or failed (with why). Only while it is still
    pending under this claim (`claimed_at`): a claim that outlived its lease and was taken
    again is settled by its new holder, not overwritten by the old."""
    mine = [PollSend.id == send_id, PollSend.status == PENDING]
    if claimed_at is not None:
        mine.append(PollSend.claimed_at == claimed_at)
    await session.execute(
        update(PollSend)
        .where(*mine)
        .values(status=status, note=note[:32] if note else None, sent_at=now)
    )


async def fail_unsendable(
    session: AsyncSession, channels: Sequence[str], note: str, now: datetime
) -> int:
    """Pending rows on channels no worker here can send on (turned off): failed, with why,
    so that none waits forever unseen."""
    result = await session.execute(
        update(PollSend)
        .where(_free(now), PollSend.channel.in_(channels))
        .values(status=FAILED, note=note, sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return max(int(result.rowcount), 0)  # type: ignore[attr-defined]


async def move_poll(
    session: AsyncSession, poll: Poll, was: Sequence[str], **values: object
) -> bool:
    """The poll's row changed (`values`) only if its status is still one of `was`: one
    conditional UPDATE, so of two staff deciding at once (Approve and Reject, Close and
    Approve) the second finds it decided; whether this one did. `poll` is read again."""
    result = await session.execute(
        update(Poll)
        .where(Poll.id == poll.id, Poll.status.in_(was))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(poll)
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def close_due_polls(session: AsyncSession, now: datetime) -> Sequence[str]:
    """Open polls past their closing time, closed (one UPDATE: two workers close each once),
    and pending ones nobody approved in time; their codes."""
    result = await session.execute(
        update(Poll)
        .where(Poll.status.in_(("open", "pending")), Poll.closes_at <= now)
        .values(status="closed", closed_at=now)
        .returning(Poll.code)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars().all())


async def answer_counts(session: AsyncSession, poll_ids: Sequence[int]) -> dict[int, int]:
    """Answers so far, by poll (paper ballots included): the staff's list of polls."""
    rows = (
        await session.execute(
            select(PollAnswer.poll_id, func.count())
            .where(PollAnswer.poll_id.in_(poll_ids))
            .group_by(PollAnswer.poll_id)
        )
    ).all()
    return {poll_id: int(count) for poll_id, count in rows}
