"""Youth groups' street campaigns, as residents meet them: the poster's link (/start c-CODE)
and the SMS tag (#CODE anywhere in a wish). Someone who comes through a campaign needs no
place question — the campaign's municipality is theirs — and their wishes carry the
campaign while it runs; after it, the link still works and the wish is kept, without it.
"""

from __future__ import annotations

import re

from handlers.context import Context
from handlers.types import Text
from storage import queries
from storage.models import Campaign

LINK_PREFIX = "c-"
CODE = re.compile(r"^[A-Z][A-Z0-9_-]{1,31}$")
TAG = re.compile(r"(?<![\w#])#([A-Za-z][A-Za-z0-9_-]{1,31})\b")
DRAFT_KEY = "campaign"  # in a wish's draft: the campaign an SMS tag named


async def join(ctx: Context, code: str) -> list[Text]:
    """/start c-CODE: the notes to show. The resident's place becomes the campaign's (unless
    they have one already) and later wishes carry the campaign while it runs."""
    campaign = await _by_code(ctx, code)
    if campaign is None:
        return [Text("campaign.unknown")]
    notes = [Text("campaign.welcome", {"name": campaign.name})]
    if ctx.person.municipality is None:
        await ctx.settle(campaign.municipality)
        notes.append(Text("place.set", {"place": campaign.municipality.name(ctx.language)}))
    running = campaign.running(ctx.today)
    await queries.change_person(
        ctx.session, ctx.person, campaign_id=campaign.id if running else None
    )
    if not running:
        notes = [Text("campaign.ended", {"name": campaign.name}), *notes[1:]]
    return notes


async def take_tag(ctx: Context, text: str) -> tuple[str, list[Text]]:
    """An SMS wish's text without its #CODE, remembering the campaign in the draft; and the
    notes to add to the answer (a tag that names no running campaign is said so)."""
    found = TAG.search(text)
    if found is None:
        return text, []
    campaign = await _by_code(ctx, found.group(1))
    rest = " ".join((text[: found.start()] + text[found.end() :]).split())
    if campaign is None:
        return rest, [Text("campaign.unknown_tag", {"code": found.group(1).upper()})]
    if not campaign.running(ctx.today):
        return rest, [Text("campaign.ended", {"name": campaign.name})]
    ctx.remember(**{DRAFT_KEY: campaign.id})
    if ctx.person.municipality is None:
        await ctx.settle(campaign.municipality)
    return rest, []


async def of_wish(ctx: Context) -> int | None:
    """The campaign a wish being saved carries: the SMS tag's, else the one the resident
    came through, if it runs today."""
    tagged = ctx.data.get(DRAFT_KEY)
    if isinstance(tagged, int):
        return tagged
    if ctx.person.campaign_id is None:
        return None
    campaign = await queries.campaign_by_id(ctx.session, ctx.person.campaign_id)
    return campaign.id if campaign is not None and campaign.running(ctx.today) else None


async def _by_code(ctx: Context, code: str) -> Campaign | None:
    code = code.strip().upper()
    if not CODE.match(code):
        return None
    return await queries.campaign_by_code(ctx.session, code)
