"""Anonymous reports of where a resident was asked for a bribe (or served honestly), by type
of public service.

Nothing stored with a report points back at its sender (docs/architecture.md §8): the draft lives
in the person's conversation only until it is saved, cancelled or expires, and the saved
report has no person, message id or time finer than the day. Flood limits count under a
keyed hash of sender and day, in a table of their own.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import cache

from babel.dates import format_date

from handlers import onboarding, validation
from handlers.context import Context
from handlers.scrub import scrub
from handlers.steps import Step
from handlers.types import Button, Reply, Text, noted, say
from handlers.validation import fold, small_number
from storage import queries
from storage.domain import bribe_service_codes
from storage.models import utcnow

SERVICE = "bribe_service"
OUTCOME = "bribe_outcome"
AMOUNT = "bribe_amount"
MONTH = "bribe_month"
TEXT = "bribe_text"
CONFIRM = "bribe_confirm"


def in_report(step: str | None) -> bool:
    """Whether a conversation at this step is writing a bribe report: it takes no picture
    and no place (handlers/router.py); its steps are private (`STEPS`)."""
    return step in STEPS


OUTCOMES = ("paid", "refused", "not_asked")  # what a resident picks on Telegram
ASKED = "asked"  # an SMS report that does not say what happened: asked, and no more said
# The words an SMS report may say what happened with, after the service code (ПАРА 1 бердим
# 3000), compared folded (handlers/validation.fold: lower case, ө ү ң as о у н).
OUTCOME_WORDS = {
    "paid": ("бердим", "төлөдүм", "дал", "дала", "заплатил", "заплатила", "paid"),
    "refused": ("бербедим", "төлөбөдүм", "отказал", "отказала", "не дал", "не дала", "refused"),
    "not_asked": (
        "сурабады",
        "сураган жок",
        "не просили",
        "никто не просил",
        "notasked",
        "not asked",
    ),
}
AMOUNT_LIMIT = 10_000_000  # som; anything above is not a bribe anyone reported
TEXT_LIMIT = 500
REPORTS_PER_DAY = 5
MONTHS_BACK = 3  # this month or one of the three before
DRAFT_LIFETIME = timedelta(hours=1)  # an abandoned draft is wiped after this
SKIP, SAVE, DISCARD = "skip", "save", "discard"

# 5000 · 5 000 · 5,000 · 5000 сом · 5k · 1.5к · 5 миң
_SEPARATED_THOUSANDS = re.compile(r"(?<=\d)[\s\u00a0\u202f',.](?=\d{3}(?!\d))")
_AMOUNT = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(k|к|тыс\.?|миң|мин)?\s*(сом\w*|som\w*|kgs|с|c)?\.?$")


# --- parsing and checking --------------------------------------------------------------------


def parse_amount(text: str) -> tuple[int | None, Text | None]:
    """An amount in som, or what is wrong with the text."""
    cleaned = _SEPARATED_THOUSANDS.sub("", text.strip().lower())
    if cleaned.startswith("-"):
        return None, Text("bribe.amount_negative")
    match = _AMOUNT.match(cleaned)
    if match is None:
        return None, Text("bribe.amount_nonsense")
    value = float(match.group(1).replace(",", ".")) * (1000 if match.group(2) else 1)
    if value < 1:
        return None, Text("bribe.amount_nonsense")
    if value > AMOUNT_LIMIT:
        return None, Text("bribe.amount_too_big", {"limit": f"{AMOUNT_LIMIT:,}".replace(",", " ")})
    return round(value), None


def split_amount(text: str) -> tuple[str, str]:
    """For SMS: the words at the start of `text` that make an amount, and the rest."""
    words = text.split()
    for count in range(min(len(words), 3), 0, -1):
        _, problem = parse_amount(" ".join(words[:count]))
        if problem is None or problem.key != "bribe.amount_nonsense":
            return " ".join(words[:count]), " ".join(words[count:])
    return "", text.strip()


def split_outcome(text: str) -> tuple[str | None, str]:
    """For SMS: what happened, when the text starts with a word for it; and the rest."""
    words = text.split()
    for count in (3, 2, 1):
        said = fold(" ".join(words[:count]))
        for outcome, spellings in OUTCOME_WORDS.items():
            if len(words) >= count and said in _folded(spellings):
                return outcome, " ".join(words[count:])
    return None, text.strip()


@cache
def _folded(spellings: tuple[str, ...]) -> frozenset[str]:
    return frozenset(fold(spelling) for spelling in spellings)


def recent_months(today: date) -> list[str]:
    months, year, month = [], today.year, today.month
    for _ in range(MONTHS_BACK + 1):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def month_name(month: str, language: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    name = format_date(date(year, number, 1), "LLLL y", locale=language)
    return name[:1].upper() + name[1:]


def check_text(text: str) -> tuple[str, Text | None]:
    return validation.check_text(text, TEXT_LIMIT)


# --- the daily limit ---------------------------------------------------------------------------


def _quota_key(ctx: Context) -> str:
    inbound = ctx.inbound
    return ctx.pseudonyms.of("bribe-quota", inbound.channel, inbound.user_id, ctx.today.isoformat())


async def _over_quota(ctx: Context) -> bool:
    return await queries.quota_used(ctx.session, _quota_key(ctx)) >= REPORTS_PER_DAY


# --- the command ---------------------------------------------------------------------------------


async def report(ctx: Context, argument: str) -> list[Reply]:
    """/bribe [code]; SMS: ПАРА <code 0–9> [amount] [text]."""
    if await _over_quota(ctx):
        ctx.finish()
        return [say("bribe.flood", limit=REPORTS_PER_DAY)]
    if not ctx.guided:
        return [await _report_at_once(ctx, argument)]
    ctx.start_draft(DRAFT_LIFETIME, then="bribe")
    code = argument.strip()
    if (service := small_number(code, 2)) in bribe_service_codes():
        ctx.remember(service=service)
    return noted(await continue_report(ctx), Text("bribe.intro"))


async def continue_report(ctx: Context) -> list[Reply]:
    data = ctx.data
    if ctx.person.municipality is None:
        return [(await onboarding.ask_place(ctx)).after(Text("bribe.place_first"))]
    for step, needed in (
        (SERVICE, "service" not in data),
        (OUTCOME, "outcome" not in data),
        (AMOUNT, "amount" not in data and data.get("outcome") in ("paid", "refused")),
        (MONTH, "month" not in data),
        (TEXT, "text" not in data),
    ):
        if needed:
            ctx.enter(step)
            return [await PROMPTS[step](ctx)]
    ctx.enter(CONFIRM)
    return [await confirm_prompt(ctx)]


async def _report_at_once(ctx: Context, argument: str) -> Reply:
    code, _, rest = argument.strip().partition(" ")
    if small_number(code, 2) not in bribe_service_codes():
        return say("bribe.usage")
    if ctx.person.municipality is None:
        return say("bribe.place_first")
    outcome, rest = split_outcome(rest)
    amount_text, text = split_amount(rest)
    if outcome is None:  # also after the amount: ПАРА 1 3000 бердим
        outcome, text = split_outcome(text)
    amount = None
    if amount_text and outcome != "not_asked":
        amount, problem = parse_amount(amount_text)
        if problem is not None:
            return Reply(parts=(problem,))
    if text:
        text, problem = check_text(text)
        if problem is not None:
            return Reply(parts=(problem,))
    ctx.start_flow(
        service=int(code),
        # Without a word for it, nobody said whether it was paid: "asked", never "paid".
        outcome=outcome or ASKED,
        amount=amount,
        month=recent_months(ctx.today)[0],
        text=text,
    )
    return await save(ctx)


async def save(ctx: Context) -> Reply:
    data = ctx.data
    ctx.finish()  # the draft goes first, whatever happens next
    municipality = ctx.person.municipality
    if municipality is None:  # forgotten meanwhile; nothing is kept without a place
        return say("bribe.place_first")
    if not await queries.count_towards_quota(
        ctx.session, _quota_key(ctx), REPORTS_PER_DAY, _end_of(ctx.today)
    ):
        return say("bribe.flood", limit=REPORTS_PER_DAY)
    text = scrub(data.get("text") or "") or None
    ctx.private = True  # the answer carries the report's reference
    report = await queries.add_bribe_report(
        ctx.session,
        service=int(data["service"]),
        outcome=str(data["outcome"]),
        amount=data.get("amount"),
        month=str(data["month"]),
        municipality_id=municipality.id,
        channel=ctx.inbound.channel,
        text=text,
        created_on=ctx.today,
    )
    return say("bribe.saved", reference=report.reference)


def _end_of(day: date) -> datetime:
    # A day and a margin for time zones: the quota row is gone by the next evening.
    return datetime(day.year, day.month, day.day, tzinfo=utcnow().tzinfo) + timedelta(days=2)


# --- steps ------------------------------------------------------------------------------------


async def service_prompt(ctx: Context) -> Reply:
    buttons = tuple(
        (Button(Text(f"service.{code}"), ctx.payload(str(code))),) for code in bribe_service_codes()
    )
    return Reply(parts=(Text("bribe.service_prompt"),), buttons=buttons)


async def choose_service(ctx: Context, value: str) -> list[Reply] | None:
    if small_number(value, 2) not in bribe_service_codes():
        return None
    ctx.remember(service=int(value))
    return await continue_report(ctx)


async def outcome_prompt(ctx: Context) -> Reply:
    buttons = tuple((Button(Text(f"outcome.{o}"), ctx.payload(o)),) for o in OUTCOMES)
    service = Text(f"service.{ctx.data.get('service', 0)}")
    return Reply(parts=(Text("bribe.outcome_prompt", {"service": service}),), buttons=buttons)


async def choose_outcome(ctx: Context, value: str) -> list[Reply] | None:
    if value not in OUTCOMES:
        return None
    ctx.remember(outcome=value)
    return await continue_report(ctx)


async def amount_prompt(ctx: Context) -> Reply:
    skip = Button(Text("button.skip"), ctx.payload(SKIP))
    return Reply(parts=(Text("bribe.amount_prompt"),), buttons=((skip,),))


async def take_amount(ctx: Context, text: str) -> list[Reply]:
    amount, problem = parse_amount(text)
    if problem is not None:
        return [(await amount_prompt(ctx)).after(problem)]
    ctx.remember(amount=amount)
    return await continue_report(ctx)


async def skip_amount(ctx: Context, value: str) -> list[Reply] | None:
    return await _skip(ctx, value, amount=None)


async def _skip(ctx: Context, value: str, **nothing: object) -> list[Reply] | None:
    """The "Skip" button of an optional step: record that nothing was given, go on."""
    if value != SKIP:
        return None
    ctx.remember(**nothing)
    return await continue_report(ctx)


async def month_prompt(ctx: Context) -> Reply:
    buttons = tuple(
        (Button(month_name(month, ctx.language), ctx.payload(month)),)
        for month in recent_months(ctx.today)
    )
    return Reply(parts=(Text("bribe.month_prompt"),), buttons=buttons)


async def choose_month(ctx: Context, value: str) -> list[Reply] | None:
    if value not in recent_months(ctx.today):  # also refuses a month in the future
        return None
    ctx.remember(month=value)
    return await continue_report(ctx)


async def text_prompt(ctx: Context) -> Reply:
    skip = Button(Text("button.skip"), ctx.payload(SKIP))
    return Reply(parts=(Text("bribe.text_prompt", {"limit": TEXT_LIMIT}),), buttons=((skip,),))


async def take_text(ctx: Context, text: str) -> list[Reply]:
    cleaned, problem = check_text(text)
    if problem is not None:
        return [(await text_prompt(ctx)).after(problem)]
    ctx.remember(text=cleaned)
    return await continue_report(ctx)


async def skip_text(ctx: Context, value: str) -> list[Reply] | None:
    return await _skip(ctx, value, text="")


async def confirm_prompt(ctx: Context) -> Reply:
    data = ctx.data
    municipality = ctx.person.municipality
    amount = data.get("amount")
    values = {
        "service": Text(f"service.{data['service']}"),
        "outcome": Text(f"outcome.{data['outcome']}"),
        "amount": Text("bribe.amount_value", {"amount": amount}) if amount else Text("bribe.none"),
        "month": month_name(str(data["month"]), ctx.language),
        "place": municipality.name(ctx.language) if municipality else "",
        "text": scrub(data["text"]) if data.get("text") else Text("bribe.none"),
    }
    buttons = (
        (Button(Text("button.save"), ctx.payload(SAVE)),),
        (Button(Text("button.discard"), ctx.payload(DISCARD)),),
    )
    return Reply(parts=(Text("bribe.confirm", values),), buttons=buttons)


async def choose_confirm(ctx: Context, value: str) -> list[Reply] | None:
    if value == DISCARD:
        ctx.finish()
        return [say("bribe.discarded")]
    if value != SAVE:
        return None
    return [await save(ctx)]


PROMPTS = {
    SERVICE: service_prompt,
    OUTCOME: outcome_prompt,
    AMOUNT: amount_prompt,
    MONTH: month_prompt,
    TEXT: text_prompt,
    CONFIRM: confirm_prompt,
}


# The report's steps: every one private, whatever its name (handlers/router.py checks it).
STEPS: dict[str, Step] = {
    SERVICE: Step(service_prompt, choose_service, private=True),
    OUTCOME: Step(outcome_prompt, choose_outcome, private=True),
    AMOUNT: Step(amount_prompt, skip_amount, take_amount, private=True),
    MONTH: Step(month_prompt, choose_month, private=True),
    TEXT: Step(text_prompt, skip_text, take_text, private=True),
    CONFIRM: Step(confirm_prompt, choose_confirm, private=True),
}
