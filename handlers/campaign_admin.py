"""/campaign for organizers on Telegram: the tally of their municipality's campaigns, and a
new campaign in three steps (name; first and last day; the kinds of card its stand takes);
its code is made for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from handlers import campaign_report, invites, wishes
from handlers.context import Context
from handlers.dates import day_month
from handlers.quotes import choose_quotes
from handlers.steps import Step
from handlers.types import Button, Reply, Text, deep_link, say
from storage import queries
from storage.models import Campaign, Invite, utcnow

MENU = "campaign_menu"
NAME = "campaign_name"
DAYS = "campaign_days"
KINDS = "campaign_kinds"
KIND_CHOICES = ("change,great", "change", "great")  # the cards a stand takes (Campaign.kinds)
NEW = "new"
NAME_LIMIT = 200
LONGEST = timedelta(days=92)  # a street campaign, not a standing one
RECENT = timedelta(days=30)  # /campaign shows the campaigns that ended since
VOLUNTEER = "volunteer"
INVITE_DAYS = 14
QUOTES = 2  # of each campaign in the tally
CHARTS = 3  # campaigns drawn after the tally, the first listed


async def show(ctx: Context, _argument: str) -> list[Reply]:
    """/campaign: each campaign of the organizer's places, what it brought, and a button for
    a new one."""
    ctx.finish()
    places = await queries.organizer_places(ctx.session, ctx.person)
    if not places:
        return [say("card.organizers_only")]
    lines: list[Text] = []
    charted: list[str] = []
    since, until = ctx.today - RECENT, ctx.today + LONGEST * 12  # last month's and coming
    for place in places:
        for campaign in await queries.campaigns_during(ctx.session, place.id, since, until):
            report = await campaign_report.collect(ctx.session, campaign)
            lines += _tally(ctx, report)
            if report.total and len(charted) < CHARTS:
                charted.append(campaign.code)
    ctx.start_flow(place=places[0].id)
    ctx.enter(MENU)
    menu = await menu_prompt(ctx)
    return [replace(menu.after(*(lines or [Text("campaign.none")])), charts=tuple(charted))]


async def menu_prompt(ctx: Context) -> Reply:
    buttons = (
        (Button(Text("campaign.new_button"), ctx.payload(NEW)),),
        (Button(Text("campaign.volunteer_button"), ctx.payload(VOLUNTEER)),),
    )
    return Reply(parts=(Text("campaign.menu_prompt"),), buttons=buttons)


async def leave_menu(ctx: Context, text: str) -> list[Reply]:
    """Text instead of the button: not a campaign after all, but a wish."""
    ctx.finish()
    return await wishes.from_free_text(ctx, text)


def _tally(ctx: Context, report: campaign_report.CampaignReport) -> list[Text]:
    """A campaign's figures, its topics by kind, and a few of its words."""
    campaign = report.campaign
    link = deep_link(ctx.inbound.bot_username, f"c-{campaign.code}")
    days = {
        "first": day_month(campaign.starts_on, ctx.language),
        "last": day_month(campaign.ends_on, ctx.language),
    }
    lines = [Text("campaign.tally", {**report.values(), **days, "link": link})]
    for category, change, great in report.categories():
        topic = Text(f"category.{category}")
        lines.append(Text("campaign.category", {"topic": topic, "change": change, "great": great}))
    for quote in choose_quotes(report.quotes, ctx.language, QUOTES, QUOTES):
        topic = Text(f"category.{quote.category}")
        lines.append(Text("campaign.quote", {"text": quote.text, "topic": topic}))
    return lines


async def name_prompt(ctx: Context) -> Reply:
    return say("campaign.name_prompt")


async def choose_new(ctx: Context, value: str) -> list[Reply] | None:
    if value == VOLUNTEER:
        return [await _volunteer_invite(ctx)]
    if value != NEW:
        return None
    ctx.enter(NAME)
    return [await name_prompt(ctx)]


async def _volunteer_invite(ctx: Context) -> Reply:
    """An invite for one volunteer to type cards in the organizer's place (/card). The menu
    stays, its buttons too: the next volunteer's invite is a press away."""
    place_id = ctx.data.get("place")
    places = {place.id for place in await queries.organizer_places(ctx.session, ctx.person)}
    if not isinstance(place_id, int) or place_id not in places:  # the role went meanwhile
        ctx.finish()
        return say("card.organizers_only")
    ctx.keep_buttons = True
    invite = Invite(
        code=invites.new_code(),
        role=VOLUNTEER,
        municipality_id=place_id,
        initiative_id=None,
        expires_at=utcnow() + timedelta(days=INVITE_DAYS),
    )
    await queries.add_invite(ctx.session, invite)
    link = deep_link(ctx.inbound.bot_username, f"{invites.LINK_PREFIX}{invite.code}")
    return say("campaign.volunteer_invite", link=link, code=invite.code, days=INVITE_DAYS)


async def take_name(ctx: Context, text: str) -> list[Reply]:
    name = " ".join(text.split())
    if not name or len(name) > NAME_LIMIT:
        return [(await name_prompt(ctx)).after(Text("campaign.bad_name", {"limit": NAME_LIMIT}))]
    ctx.enter(DAYS, name=name)
    return [await days_prompt(ctx)]


async def days_prompt(ctx: Context) -> Reply:
    return say("campaign.days_prompt", example=_example(ctx.today))


def _example(today: date) -> str:
    return f"{today.isoformat()} {(today + timedelta(days=2)).isoformat()}"


async def take_days(ctx: Context, text: str) -> list[Reply]:
    """Two days, first and last (YYYY-MM-DD), not reversed, not over, not too long."""
    parts = text.replace("–", " ").replace("—", " ").split()
    try:
        first, last = (date.fromisoformat(part) for part in parts)
    except ValueError:
        return [(await days_prompt(ctx)).after(Text("campaign.bad_days"))]
    if last < first or last < ctx.today or last - first > LONGEST:
        return [(await days_prompt(ctx)).after(Text("campaign.bad_days"))]
    ctx.enter(KINDS, first=first.isoformat(), last=last.isoformat())
    return [await kinds_prompt(ctx)]


async def kinds_prompt(ctx: Context) -> Reply:
    buttons = tuple(
        (Button(Text(f"campaign.kinds.{kinds}"), ctx.payload(kinds)),) for kinds in KIND_CHOICES
    )
    return Reply(parts=(Text("campaign.kinds_prompt"),), buttons=buttons)


async def choose_kinds(ctx: Context, value: str) -> list[Reply] | None:
    """The last step: the kinds of card the stand takes; the campaign is made."""
    if value not in KIND_CHOICES:
        return None
    data = ctx.data
    place_id = data.get("place")
    if not isinstance(place_id, int):
        ctx.finish()
        return [say("card.organizers_only")]
    campaign = Campaign(
        code=await _new_code(ctx),
        municipality_id=place_id,
        name=str(data.get("name", "")),
        starts_on=date.fromisoformat(str(data["first"])),
        ends_on=date.fromisoformat(str(data["last"])),
        kinds=value,
    )
    ctx.session.add(campaign)
    await ctx.session.flush()
    ctx.finish()
    link = deep_link(ctx.inbound.bot_username, f"c-{campaign.code}")
    created = say("campaign.created", name=campaign.name, code=campaign.code, link=link)
    return [replace(created, posters=(campaign.code,))]


async def _new_code(ctx: Context) -> str:
    while True:
        code = "C" + invites.new_code(5)
        if await queries.campaign_by_code(ctx.session, code) is None:
            return code


# /campaign: the menu, a campaign's name, days, kinds (handlers/router.py joins them).
STEPS: dict[str, Step] = {
    MENU: Step(menu_prompt, choose_new, leave_menu),
    NAME: Step(name_prompt, on_text=take_name),
    DAYS: Step(days_prompt, on_text=take_days),
    KINDS: Step(kinds_prompt, choose_kinds),
}
