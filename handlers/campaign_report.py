"""What a street campaign brought, read once for every place it is shown: the organizers'
/campaign, the chart drawn beside it, and the summary officials get at its end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.quotes import Quote, quotable
from storage import queries
from storage.domain import wish_categories
from storage.models import Campaign

QUOTABLE = 50  # the newest wishes quotes are chosen from


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    tally: dict[str, int]  # "card:change", "online:great", …, and "people" reached online
    wishes: Counter[tuple[str, str]]  # (kind, category) -> cards and online wishes
    quotes: list[Quote]  # of the newest wishes, newest first: see handlers.quotes

    @property
    def total(self) -> int:
        return sum(self.wishes.values())

    def values(self) -> dict[str, object]:
        """The figures the catalogues' campaign messages name."""
        tally, campaign = self.tally, self.campaign
        return {
            "name": campaign.name,
            "code": campaign.code,
            "cards_change": tally.get("card:change", 0),
            "cards_great": tally.get("card:great", 0),
            "online": tally.get("online:change", 0) + tally.get("online:great", 0),
            "people": tally["people"],
        }

    def categories(self) -> list[tuple[str, int, int]]:
        """(category, to change, great), the most written about first, ties in the
        catalogue's order."""
        order = {category: i for i, category in enumerate(wish_categories())}
        named = {category for _, category in self.wishes}
        rows = [(c, self.wishes[("change", c)], self.wishes[("great", c)]) for c in named]
        return sorted(rows, key=lambda row: (-(row[1] + row[2]), order.get(row[0], 99)))


async def collect(session: AsyncSession, campaign: Campaign) -> CampaignReport:
    return CampaignReport(
        campaign=campaign,
        tally=await queries.campaign_tally(session, campaign.id),
        wishes=Counter(await queries.campaign_counts(session, campaign.id)),
        quotes=quotable(await queries.campaign_wishes(session, campaign.id, QUOTABLE)),
    )
