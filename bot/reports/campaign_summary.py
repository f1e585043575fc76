"""A street campaign's tally as pictures and tables, and its end: the summary goes once to
the municipality's deputies and staff, as a notice (bot/channels/notices.py sends it through the
outbox, in each official's language and channel; on Telegram the chart and the CSV of its
cards and wishes follow). The end is a scheduled job; several workers send each once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import date

from bot.channels.parts import Part
from bot.digests.chart import draw_wishes
from bot.reports.export import staff_csv
from bot.runtime.i18n import Catalogues
from handlers import campaign_report
from handlers.campaign_report import CampaignReport
from handlers.types import Text
from storage import queries
from storage.db import Database

log = logging.getLogger(__name__)

SUMMARY = "campaign.summary"  # the notice's catalogue key
EMPTY = "campaign.summary_empty"  # a campaign that brought no card and no wish


async def summarize_ended(db: Database, today: date) -> int:
    """Queue the summary of every campaign that ended before today; how many campaigns."""
    async with db.session() as session, session.begin():
        campaigns = await queries.claim_ended_campaigns(session, today)
        for campaign in campaigns:
            report = await campaign_report.collect(session, campaign)
            values = {**report.values(), "campaign_id": campaign.id}
            key = SUMMARY if report.total else EMPTY  # an empty one has nothing to attach
            officials = {role.person_id for role in await queries.officials(
                session, campaign.municipality_id
            )}  # fmt: skip
            for person_id in sorted(officials):  # a deputy who is staff too gets it once
                await queries.add_notice(session, person_id, key, values)
    for campaign in campaigns:
        log.info("campaign %s ended: its summary goes to the officials", campaign.code)
    return len(campaigns)


def chart(report: CampaignReport, catalogues: Catalogues, language: str) -> bytes | None:
    """The tally's bars by topic (cards and online wishes, to change and great); None for a
    campaign that brought nothing."""
    title = f"«{report.campaign.name}» #{report.campaign.code}"
    return draw_wishes(title, report.categories(), catalogues, language)


async def chart_of(db: Database, catalogues: Catalogues, code: str, language: str) -> bytes | None:
    """The chart of a campaign by its code, as of now (for /campaign)."""
    async with db.session() as session:
        campaign = await queries.campaign_by_code(session, code)
        if campaign is None:
            return None
        report = await campaign_report.collect(session, campaign)
    return await asyncio.to_thread(chart, report, catalogues, language)


async def summary_files(
    db: Database, catalogues: Catalogues, timezone: str, values: Mapping[str, object], language: str
) -> list[Part]:
    """What follows the summary's text on Telegram: the chart, and every card and wish of the
    campaign as a CSV in the official's language (no one's identity: see export.staff_csv)."""
    campaign_id = values.get("campaign_id")
    if not isinstance(campaign_id, int):  # a summary queued before the files existed
        return []
    async with db.session() as session:
        campaign = await queries.campaign_by_id(session, campaign_id)
        if campaign is None:
            return []
        report = await campaign_report.collect(session, campaign)
        wishes = list(reversed(await queries.campaign_wishes(session, campaign_id)))
    name = {"name": campaign.name, "code": campaign.code}
    parts = []
    picture = await asyncio.to_thread(chart, report, catalogues, language)
    if picture is not None:
        caption = catalogues.text(language, Text("campaign.chart_caption", name))
        parts.append(Part("photo", caption, picture, f"campaign-{campaign.code}.png"))
    if wishes:
        caption = catalogues.text(language, Text("campaign.csv_caption", {"count": len(wishes)}))
        table = staff_csv(wishes, timezone, catalogues, language)
        parts.append(Part("document", caption, table, f"campaign-{campaign.code}.csv"))
    return parts
