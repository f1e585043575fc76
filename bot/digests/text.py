"""A digest in words, in one language: the Telegram text, the chart's caption and labels,
and the SMS summary (at most two segments) for officials without Telegram."""

from __future__ import annotations

from bot.channels.sms.segments import segments
from bot.digests import accountability, overdue
from bot.digests.content import Digest
from bot.reports.bribe_stats import SUPPRESS_BELOW, cell, margin, shown
from bot.reports.wording import Say, figure, sayer
from bot.runtime.i18n import Catalogues
from handlers.answering import STATUSES
from handlers.dates import day_month as day
from handlers.quotes import choose_quotes, shorten
from handlers.scrub import scrub
from handlers.types import deep_link
from storage.domain import DUPLICATE

SMS_SEGMENTS = 2
KIND_ICONS = {"change": "🔧", "great": "👍"}
DONE_LINES = 10  # wishes done this week named in the digest


def change(now: int, before: int, plain: bool = False) -> str:
    """+3, −2, ±0; `plain` keeps to ASCII, which SMS sends in the cheaper GSM alphabet."""
    difference = now - before
    if difference > 0:
        return f"+{difference}"
    if plain:
        return str(difference)
    return f"−{-difference}" if difference else "±0"


def bribe_count(digest: Digest, say: Say) -> str:
    """The week's number of reports, or words where the number could single someone out."""
    return figure(digest.bribe_total_shown, say)


def render(
    digest: Digest, catalogues: Catalogues, language: str, bot_username: str | None = None
) -> str:
    """The whole digest as Telegram text (adapters split it under 4,096 characters)."""
    say = sayer(catalogues, language)
    place = digest.municipality.name(language)
    week = digest.week
    lines = [
        say(
            "digest.title_so_far" if digest.so_far else "digest.title",
            place=place,
            first=day(week.monday, language),
            last=day(digest.last_day, language),
            week=week.number,
        ),
        "",
    ]
    if digest.quiet:
        link = deep_link(bot_username, f"m-{digest.municipality.key}")  # starts placed here
        lines.append(say("digest.quiet_so_far" if digest.so_far else "digest.quiet", link=link))
    else:
        lines += _wishes(digest, say) + _quotes(digest, say, language) + _bribes(digest, say)
    lines += _initiatives(digest, say, language) + _campaigns(digest, say)
    lines += _polls(digest, say, language)
    if not digest.quiet:
        lines += _answers(digest, say)
    lines += accountability.lines(digest.accountability, say, language)
    lines += overdue.lines(digest.overdue, say)
    return "\n".join(lines).strip()


def _answers(digest: Digest, say: Say) -> list[str]:
    """What staff answered this week, what they did, and who waits longest."""
    lines = [say("digest.answered", count=digest.answered)]
    if digest.answers:
        counts = [(s, digest.answers[s]) for s in (*STATUSES, DUPLICATE) if digest.answers[s]]
        named = ", ".join(f"{say(f'status.{status}')} {count}" for status, count in counts)
        lines.append(f"   • {say('digest.answers', counts=named)}")
    if digest.done:
        lines.append(say("digest.done"))
        for wish in digest.done[:DONE_LINES]:
            text = say("inbox.hidden_text") if wish.hidden else shorten(scrub(wish.text), 100)
            topic = say(f"category.{wish.category}")
            lines.append(
                f"   ✅ «{text}» — {topic} · {say('digest.reference', reference=wish.reference)}"
            )
    if digest.waiting:
        lines.append(say("digest.waiting"))
        end = digest.last_day
        for wish in digest.waiting:
            days = (end - wish.created_at.date()).days
            topic = say(f"category.{wish.category}")
            lines.append(
                "   ⏳ "
                + say("digest.waiting_line", reference=wish.reference, topic=topic, days=days)
            )
    return lines


def _wishes(digest: Digest, say: Say) -> list[str]:
    total, before = digest.total(), digest.total(week="before")
    lines = [say("digest.wishes", count=total, before=before)]
    for kind in ("change", "great"):
        now, then = digest.total(kind), digest.total(kind, "before")
        if not now and not then:
            continue
        lines.append(f"{KIND_ICONS[kind]} {say(f'kind.{kind}')} {now} ({change(now, then)})")
        for category, count, was in digest.categories(kind):
            name = say(f"category.{category}")
            lines.append(f"   • {name}: {count} ({change(count, was)})")
    if digest.with_photos:
        lines.append(say("digest.photos", count=digest.with_photos))
    return [*lines, ""]


def _quotes(digest: Digest, say: Say, language: str) -> list[str]:
    chosen = choose_quotes(digest.quotes, language)
    if not chosen:
        return []
    lines = [say("digest.quotes")]
    for quote in chosen:
        category = say(f"category.{quote.category}")
        reference = say("digest.reference", reference=quote.reference)
        lines.append(f"{KIND_ICONS[quote.kind]} «{quote.text}» — {category} · {reference}")
    return [*lines, ""]


def _bribes(digest: Digest, say: Say) -> list[str]:
    if not digest.bribes:
        return []
    lines = [say("digest.bribes", count=bribe_count(digest, say))]
    outcomes_of = {service: outcomes for service, _, outcomes in digest.bribe_services()}
    for service, counts in digest.bribe_rows():
        name = say(f"service.{service}")
        if len(counts) == 1:  # fewer than 3 reports: not split
            lines.append(f"   • {name}: {say('stats.fewer_than_3')}")
            continue
        requests, honest = counts
        lines.append(
            "   • "
            + say(
                "digest.bribe_service",
                service=name,
                count=figure(margin(counts), say),
                requests=figure(cell(requests), say),
                honest=figure(cell(honest), say),
            )
        )
        # How the requests ended, only when no part of them is 1 or 2.
        outcomes = outcomes_of[service]
        values = {outcome: outcomes.get(outcome, 0) for outcome in ("paid", "refused", "asked")}
        if shown(requests) and all(not 0 < n < SUPPRESS_BELOW for n in values.values()):
            lines.append("      " + say("digest.bribe_requests", **values))
    return [*lines, say("stats.note"), ""]


def _initiatives(digest: Digest, say: Say, language: str) -> list[str]:
    if not digest.initiatives:
        return []
    lines = [say("digest.initiatives")]
    for line in digest.initiatives:
        initiative = line.initiative
        key = "digest.initiative" if line.days_left else "digest.initiative_closed"
        text = say(
            key,
            title=initiative.title(language),
            week=line.this_week,
            count=line.total,
            threshold=initiative.threshold,
            percent=line.percent,
            days=line.days_left,
        )
        lines.append(f"   • {text}")
    return [*lines, ""]


def _campaigns(digest: Digest, say: Say) -> list[str]:
    if not digest.campaigns:
        return []
    lines = [say("digest.campaigns")]
    for line in digest.campaigns:
        text = say(
            "digest.campaign", name=line.name, code=line.code, cards=line.cards, online=line.online
        )
        lines.append(f"   • {text}")
    return [*lines, ""]


def _polls(digest: Digest, say: Say, language: str) -> list[str]:
    """Polls closed in the week, with what most said; those open, with answers so far."""
    if not digest.polls:
        return []
    lines = [say("poll_results.digest_heading")]
    for line in digest.polls:
        poll, tally = line.poll, line.tally
        values = {"code": poll.code, "question": poll.question(language), "total": tally.total}
        leading = tally.leading()
        if line.closed and leading is None:
            text = say("poll_results.digest_closed_empty", **values)
        elif line.closed and leading is not None:
            label = line.options[leading - 1].label(language)
            percent = tally.percent(leading)
            text = say("poll_results.digest_closed", **values, label=label, percent=percent)
        else:
            text = say("poll_results.digest_open", **values, closes=day(line.closes_on, language))
        lines.append(f"   • {text}")
    return [*lines, ""]


def caption(digest: Digest, catalogues: Catalogues, language: str) -> str:
    say = sayer(catalogues, language)
    return say(
        "digest.chart_caption",
        place=digest.municipality.name(language),
        first=day(digest.week.monday, language),
        last=day(digest.week.sunday, language),
    )


def sms_summary(digest: Digest, catalogues: Catalogues, language: str) -> str:
    """The digest in at most two SMS segments: totals, then as many of the busiest
    categories as fit."""
    say = sayer(catalogues, language)
    place, week = digest.municipality.name(language), digest.week.number
    if digest.quiet:
        return say("digest.sms_quiet", place=place, week=week)
    count, before = digest.total(), digest.total(week="before")
    ranked: dict[str, int] = {}
    for kind in ("change", "great"):
        for category, n, _ in digest.categories(kind):
            if n:
                ranked[category] = ranked.get(category, 0) + n
    top = [f"{say(f'category.{c}')} {n}" for c, n in sorted(ranked.items(), key=lambda i: -i[1])]

    def summary(categories: list[str]) -> str:
        return say(
            "digest.sms",
            place=place,
            week=week,
            count=count,
            change=change(count, before, plain=True),
            top="".join(f", {item}" for item in categories),
            bribes=bribe_count(digest, say),
            answered=digest.answered,
        )

    del top[3:]
    while top and segments(summary(top)) > SMS_SEGMENTS:
        top.pop()
    if segments(summary(top)) > SMS_SEGMENTS:  # a very long place name
        place = place[:20]
    return summary(top)
