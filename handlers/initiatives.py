"""Citizens' initiatives as residents and initiative groups see them: whether signing is open,
how far an initiative has got, and the 33% / 66% / 100% milestones its group hears about.

Dates are days in TIMEZONE (Asia/Bishkek): signing opens on `opens_on` and closes at the end
of `closes_on`, unless the operator closed it early (`closed_on`).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from handlers.context import Context
from handlers.dates import Day
from handlers.types import Reply, Text, deep_link, say
from storage import queries
from storage.domain import initiative_law
from storage.models import Initiative

KINDS = ("law", "constitution", "local")
NOT_YET, OPEN, CLOSED = "not_yet", "open", "closed"
MILESTONES = (33, 66, 100)  # per cent of the threshold
LINK_PREFIX = "i-"


# --- what the law sets, unless the initiative says otherwise --------------------------------


def default_threshold(kind: str) -> int | None:
    """Signatures needed; None for a local initiative (its municipality's charter says)."""
    law = initiative_law()
    return {
        "law": int(law["signatures_required_law"]),
        "constitution": int(law["signatures_required_constitution"]),
    }.get(kind)


def default_window(published: date) -> tuple[date, date]:
    """Signing opens 30 days after the draft's publication and closes 3 months after it."""
    law = initiative_law()
    opens = published + timedelta(days=int(law["collection_starts_days_after_publication"]))
    return opens, add_months(published, int(law["collection_ends_months_after_publication"]))


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day (30 November + 3 = 28 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def state(initiative: Initiative, today: date) -> str:
    if initiative.closed_on is not None or today > initiative.closes_on:
        return CLOSED
    return NOT_YET if today < initiative.opens_on else OPEN


def closing_day(initiative: Initiative) -> date:
    return initiative.closed_on or initiative.closes_on


def days_left(initiative: Initiative, today: date) -> int:
    """Days of signing left, today included."""
    return max((initiative.closes_on - today).days + 1, 0)


def day_name(day: date, language: str) -> Day:
    """A day for a catalogue value (see handlers/dates.py: Kyrgyz declines it)."""
    return Day(day, language)


def percent(initiative: Initiative) -> int:
    return initiative.signed * 100 // max(initiative.threshold, 1)


def link(ctx: Context, initiative: Initiative) -> str:
    """Where a resident signs on Telegram: the bot's deep link when its name is known."""
    return deep_link(ctx.inbound.bot_username, f"{LINK_PREFIX}{initiative.code}")


def not_open(initiative: Initiative, ctx: Context) -> Reply:
    """Why this initiative cannot be signed today."""
    title = initiative.title(ctx.language)
    if state(initiative, ctx.today) == NOT_YET:
        return say("sign.not_yet", title=title, opens=day_name(initiative.opens_on, ctx.language))
    return say(
        "sign.closed",
        title=title,
        closed=day_name(closing_day(initiative), ctx.language),
        count=initiative.signed,
    )


def progress(initiative: Initiative, ctx: Context) -> Text:
    return Text(
        "sign.progress",
        {
            "count": initiative.signed,
            "threshold": initiative.threshold,
            "closes": day_name(initiative.closes_on, ctx.language),
            "days": days_left(initiative, ctx.today),
        },
    )


# --- for initiative groups -----------------------------------------------------------------


async def status(ctx: Context, _argument: str) -> list[Reply]:
    """/initiative: each initiative the person's group runs, with its figures and links."""
    led = await queries.initiatives_led_by(ctx.session, ctx.person)
    if not led:
        return [say("initiative.not_initiator")]
    replies = []
    for initiative in led:
        counts = await queries.signature_counts(ctx.session, initiative.id)
        window = state(initiative, ctx.today)
        replies.append(
            say(
                "initiative.status",
                title=initiative.title(ctx.language),
                code=initiative.code,
                count=initiative.signed,
                threshold=initiative.threshold,
                percent=percent(initiative),
                disputed=counts.get("disputed", 0),
                withdrawn=counts.get("withdrawn", 0),
                opens=day_name(initiative.opens_on, ctx.language),
                closes=day_name(closing_day(initiative), ctx.language),
                window=Text(f"initiative.window.{window}"),
                link=link(ctx, initiative),
            )
        )
    return replies


async def after_counted(ctx: Context, initiative: Initiative, count: int) -> None:
    """Tell the initiative group when a signature takes it past a milestone (once each)."""
    reached = [m for m in MILESTONES if count * 100 >= m * initiative.threshold]
    # The row's milestone only grows, so one read at or past this one needs no UPDATE.
    if not reached or initiative.milestone >= reached[-1]:
        return
    if not await queries.reach_milestone(ctx.session, initiative.id, reached[-1]):
        return
    for person in await queries.initiators_of(ctx.session, initiative.id):
        await queries.add_notice(
            ctx.session,
            person.id,
            "initiative.milestone",
            {
                "title": initiative.title(person.language),
                "code": initiative.code,
                "percent": reached[-1],
                "count": count,
                "threshold": initiative.threshold,
            },
        )
