"""Anonymous bribe reports and their drafts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    BribeReport,
    Municipality,
)
from storage.queries.common import add_referenced


async def add_bribe_report(
    session: AsyncSession,
    *,
    service: int,
    outcome: str,
    amount: int | None,
    month: str,
    municipality_id: int,
    channel: str,
    text: str | None,
    created_on: date,
) -> BribeReport:
    report = BribeReport(
        service=service,
        outcome=outcome,
        amount=amount,
        month=month,
        municipality_id=municipality_id,
        channel=channel,
        text=text,
        created_on=created_on,
    )
    return await add_referenced(session, report)


async def bribe_counts(
    session: AsyncSession, municipality_id: int, months: Sequence[str]
) -> list[tuple[int, str, str, int]]:
    """(service, outcome, month, number of reports) for a municipality and months."""
    rows = await session.execute(
        select(BribeReport.service, BribeReport.outcome, BribeReport.month, func.count())
        .where(BribeReport.municipality_id == municipality_id, BribeReport.month.in_(months))
        .group_by(BribeReport.service, BribeReport.outcome, BribeReport.month)
    )
    return [(int(s), str(o), str(m), int(n)) for s, o, m, n in rows.all()]


async def bribe_amounts(
    session: AsyncSession, municipality_id: int, months: Sequence[str]
) -> list[tuple[int, int]]:
    """(service, amount) of every report that gives an amount."""
    rows = await session.execute(
        select(BribeReport.service, BribeReport.amount).where(
            BribeReport.municipality_id == municipality_id,
            BribeReport.month.in_(months),
            BribeReport.amount.is_not(None),
        )
    )
    return [(int(s), int(a)) for s, a in rows.all() if a is not None]


async def bribe_reports_for_export(
    session: AsyncSession, municipality: Municipality | None = None
) -> Sequence[BribeReport]:
    query = select(BribeReport).order_by(
        BribeReport.created_on, BribeReport.month, BribeReport.service, BribeReport.reference
    )
    if municipality is not None:
        query = query.where(BribeReport.municipality_id == municipality.id)
    return (await session.scalars(query)).all()
