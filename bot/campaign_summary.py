"""The end of a street campaign: its tally goes once to the municipality's deputies and
staff, as notices (bot/notices.py sends them through the outbox, in each official's
language and channel). A scheduled job; several workers send each summary once."""

from __future__ import annotations

import logging
from datetime import date

from storage import queries
from storage.db import Database

log = logging.getLogger(__name__)


async def summarize_ended(db: Database, today: date) -> int:
    """Queue the summary of every campaign that ended before today; how many campaigns."""
    async with db.session() as session, session.begin():
        campaigns = await queries.claim_ended_campaigns(session, today)
        for campaign in campaigns:
            tally = await queries.campaign_tally(session, campaign.id)
            values: dict[str, object] = {
                "name": campaign.name,
                "code": campaign.code,
                "cards_change": tally.get("card:change", 0),
                "cards_great": tally.get("card:great", 0),
                "online": tally.get("online:change", 0) + tally.get("online:great", 0),
                "people": tally["people"],
            }
            officials = {role.person_id for role in await queries.officials(
                session, campaign.municipality_id
            )}  # fmt: skip
            for person_id in sorted(officials):  # a deputy who is staff too gets it once
                await queries.add_notice(session, person_id, "campaign.summary", values)
    for campaign in campaigns:
        log.info("campaign %s ended: its summary goes to the officials", campaign.code)
    return len(campaigns)
