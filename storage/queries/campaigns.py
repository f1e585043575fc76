"""Youth groups' street campaigns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import bindparam, case, func, or_, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.channels import CARD
from storage.models import Campaign, Person, Wish

_BY_CODE = select(Campaign).where(Campaign.code == bindparam("code"))


async def campaign_by_code(session: AsyncSession, code: str) -> Campaign | None:
    return await session.scalar(_BY_CODE, {"code": code.upper()})


async def campaign_by_id(session: AsyncSession, campaign_id: int) -> Campaign | None:
    return await session.get(Campaign, campaign_id)


async def all_campaigns(session: AsyncSession) -> Sequence[Campaign]:
    return (
        await session.scalars(select(Campaign).order_by(Campaign.starts_on, Campaign.code))
    ).all()


async def campaign_wish_counts(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    """The wishes a campaign brought, by kind."""
    rows = await session.execute(
        select(Wish.kind, func.count(Wish.id))
        .where(Wish.campaign_id == campaign_id)
        .group_by(Wish.kind)
    )
    return {kind: int(count) for kind, count in rows}


async def running_campaigns(
    session: AsyncSession, municipality_ids: Sequence[int], today: date
) -> Sequence[Campaign]:
    """Campaigns in these municipalities that run today."""
    return (
        await session.scalars(
            select(Campaign)
            .where(
                Campaign.municipality_id.in_(municipality_ids),
                Campaign.starts_on <= today,
                Campaign.ends_on >= today,
                Campaign.closed_on.is_(None),
            )
            .order_by(Campaign.code)
        )
    ).all()


async def last_card_of(session: AsyncSession, volunteer_id: int, since: datetime) -> Wish | None:
    """The newest card this volunteer typed since `since`."""
    return await session.scalar(
        select(Wish)
        .where(Wish.entered_by == volunteer_id, Wish.created_at >= since)
        .order_by(Wish.created_at.desc(), Wish.id.desc())
        .limit(1)
    )


async def card_of(
    session: AsyncSession, volunteer_id: int, reference: str, since: datetime
) -> Wish | None:
    """A card this volunteer typed since `since`, by its reference."""
    return await session.scalar(
        select(Wish).where(
            Wish.reference == reference,
            Wish.entered_by == volunteer_id,
            Wish.channel == CARD,
            Wish.created_at >= since,
        )
    )


async def campaign_tally(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    """What a campaign brought: cards and online wishes by kind ("card:change",
    "online:great", …) and the people it reached online, each counted once: those who came
    through its link, and those who wrote with its #CODE."""
    channel = case((Wish.channel == CARD, CARD), else_="online")
    rows = await session.execute(
        select(channel, Wish.kind, func.count(Wish.id))
        .where(Wish.campaign_id == campaign_id)
        .group_by(channel, Wish.kind)
    )
    tally = {f"{where}:{kind}": int(count) for where, kind, count in rows}
    came = select(Person.id).where(Person.campaign_id == campaign_id)
    wrote = select(Wish.person_id).where(
        Wish.campaign_id == campaign_id, Wish.person_id.is_not(None), Wish.channel != CARD
    )
    reached = await session.scalar(select(func.count()).select_from(union(came, wrote).subquery()))
    tally["people"] = int(reached or 0)
    return tally


async def campaigns_during(
    session: AsyncSession, municipality_id: int, first: date, last: date
) -> Sequence[Campaign]:
    """A municipality's campaigns that ran on some day from `first` to `last`."""
    return (
        await session.scalars(
            select(Campaign)
            .where(
                Campaign.municipality_id == municipality_id,
                Campaign.starts_on <= last,
                Campaign.ends_on >= first,
                or_(Campaign.closed_on.is_(None), Campaign.closed_on >= first),
            )
            .order_by(Campaign.starts_on, Campaign.code)
        )
    ).all()


async def claim_ended_campaigns(session: AsyncSession, today: date) -> Sequence[Campaign]:
    """Campaigns over before today whose summary has not gone out, marked as summarized in
    this transaction: whichever worker commits first sends each, the others find none."""
    ended = or_(Campaign.ends_on < today, Campaign.closed_on.is_not(None))
    candidates = (
        await session.scalars(
            select(Campaign.id).where(ended, Campaign.summarized_on.is_(None)).limit(50)
        )
    ).all()
    claimed = []
    for campaign_id in candidates:
        result = await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.summarized_on.is_(None))
            .values(summarized_on=today)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            claimed.append(campaign)
    return claimed


async def campaign_counts(session: AsyncSession, campaign_id: int) -> dict[tuple[str, str], int]:
    """A campaign's cards and wishes by (kind, category), online and on paper together."""
    rows = await session.execute(
        select(Wish.kind, Wish.category, func.count(Wish.id))
        .where(Wish.campaign_id == campaign_id)
        .group_by(Wish.kind, Wish.category)
    )
    return {(str(kind), str(category)): int(count) for kind, category, count in rows}


async def campaign_wishes(
    session: AsyncSession, campaign_id: int, limit: int | None = None
) -> Sequence[Wish]:
    """A campaign's cards and wishes, the newest first (at most `limit`)."""
    query = (
        select(Wish)
        .where(Wish.campaign_id == campaign_id)
        .order_by(Wish.created_at.desc(), Wish.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()
