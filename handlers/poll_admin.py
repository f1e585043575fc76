"""/poll: staff and deputies of a municipality ask its residents. New poll → kind → the
question (Kyrgyz; then Russian and English, or skip) → options, one a message or one a line
→ (a budget round: the total, then each item's cost) → closing in 3 days, a week or two →
a preview with who it reaches, by channel, and what its SMS cost → send. "My polls" lists
the municipality's polls with their sending, answers so far, and Close.

A deputy's poll waits ("pending") for a staff member of the municipality: each is sent a
notice with Approve / Reject (stateless buttons, `pollrev:CODE:approve`: a notice must not
depend on the flow its reader is in), and the first to approve sends it — unless the
operator lets deputies send their own (POLL_DEPUTIES_SEND).

The whole municipality is asked (`civicbot poll add --villages` narrows it); options are
written in Kyrgyz (Russian and English readers see them so); a priority vote takes up to
three (fewer when there are fewer options)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import answering, ballots, poll_results
from handlers.context import Context
from handlers.poll_costs import SegmentsOf, paid_channels, preview
from handlers.steps import Step
from handlers.types import Button, Reply, Text, say
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Poll, PollOption, utcnow
from storage.queries.poll_sends import move_poll

MENU, KIND, QUESTION, OPTIONS = "poll_menu", "poll_kind", "poll_question", "poll_options"
TOTAL, COSTS, CLOSES, PREVIEW = "poll_total", "poll_costs", "poll_closes", "poll_preview"
LIST = "poll_list"
CLOSING_DAYS = (3, 7, 14)
QUESTION_LIMIT = 300
LABEL_LIMIT = 100  # characters an option takes (a button's label shows about 60)
MOST_OPTIONS = 9
PRIORITY_CHOICES = 3
REVIEW = "pollrev"  # stateless payloads of the approval notice: pollrev:CODE:approve|reject
NEW, MINE, DONE, SKIP, SEND, CANCEL = "new", "mine", "done", "skip", "send", "cancel"


@dataclass(frozen=True)
class Rules:
    """The operator's settings the flow needs, set by the runtime at start
    (bot/runtime/app.py): handlers read no settings themselves."""

    deputies_send: bool = False  # POLL_DEPUTIES_SEND
    sms_price: float = 2.0  # SMS_PRICE
    whatsapp_template: bool = False  # TWILIO_WHATSAPP_CONTENT_SID set: WhatsApp is not SMS
    sms_cap: int | None = None  # POLL_SMS_CAP: SMS messages at most a poll sends
    segments_of: SegmentsOf | None = None  # the SMS form's segments (1 each where unset)


RULES = Rules()


def configure(rules: Rules) -> None:
    global RULES
    RULES = rules


# --- who may ---------------------------------------------------------------------------------


async def _place(ctx: Context) -> tuple[int, str] | None:
    """The municipality the person asks, and as what (staff first)."""
    places = await answering.places_of(ctx)
    if places.staff:
        return places.staff[0], "staff"
    if places.deputy:
        return places.deputy[0], "deputy"
    return None


async def show(ctx: Context, argument: str) -> list[Reply]:
    """/poll: the menu (new poll, my polls)."""
    found = await _place(ctx)
    if found is None:
        return [say("poll_admin.officials_only")]
    if not ctx.guided:
        return [say("poll_admin.telegram_only")]
    ctx.start_flow(place=found[0], role=found[1])
    ctx.enter(MENU)
    return [await menu_prompt(ctx)]


async def menu_prompt(ctx: Context) -> Reply:
    row = (
        Button(Text("poll_admin.new"), ctx.payload(NEW)),
        Button(Text("poll_admin.mine"), ctx.payload(MINE)),
    )
    return Reply(parts=(Text("poll_admin.menu"),), buttons=(row,))


async def choose_menu(ctx: Context, value: str) -> list[Reply] | None:
    if value == NEW:
        ctx.enter(KIND)
        return [await kind_prompt(ctx)]
    if value == MINE:
        ctx.enter(LIST)
        return [await list_prompt(ctx)]
    return None


# --- kind, question, options -------------------------------------------------------------------


async def kind_prompt(ctx: Context) -> Reply:
    buttons = tuple(
        (Button(Text(f"poll_admin.kind_{kind}"), ctx.payload(kind)),) for kind in ballots.KINDS
    )
    return Reply(parts=(Text("poll_admin.kind_prompt"),), buttons=buttons)


async def choose_kind(ctx: Context, value: str) -> list[Reply] | None:
    if value not in ballots.KINDS:
        return None
    ctx.enter(QUESTION, kind=value, language="ky", question={}, options=[])
    return [await question_prompt(ctx)]


async def question_prompt(ctx: Context) -> Reply:
    language = str(ctx.data.get("language", "ky"))
    prompt = Text(f"poll_admin.question_{language}", {"limit": QUESTION_LIMIT})
    if language == "ky":
        return Reply(parts=(prompt,))
    skip = Button(Text("button.skip"), ctx.payload(SKIP))
    return Reply(parts=(prompt,), buttons=((skip,),))


async def take_question(ctx: Context, text: str) -> list[Reply]:
    words = " ".join(text.split())
    if not words or len(words) > QUESTION_LIMIT:
        problem = Text("error.too_long", {"limit": QUESTION_LIMIT, "length": len(words)})
        return [(await question_prompt(ctx)).after(problem if words else Text("error.empty_text"))]
    language = str(ctx.data.get("language", "ky"))
    return await _next_language(ctx, {**ctx.data.get("question", {}), language: words})


async def skip_question(ctx: Context, value: str) -> list[Reply] | None:
    if value != SKIP or ctx.data.get("language") == "ky":
        return None
    return await _next_language(ctx, dict(ctx.data.get("question", {})))


async def _next_language(ctx: Context, question: dict[str, str]) -> list[Reply]:
    index = LANGUAGES.index(str(ctx.data.get("language", "ky")))
    if index + 1 < len(LANGUAGES):
        ctx.enter(QUESTION, question=question, language=LANGUAGES[index + 1])
        return [await question_prompt(ctx)]
    ctx.enter(OPTIONS, question=question)
    return [await options_prompt(ctx)]


async def options_prompt(ctx: Context) -> Reply:
    options = list(ctx.data.get("options", []))
    listed = "\n".join(f"{n}. {label}" for n, label in enumerate(options, start=1))
    parts = [Text("poll_admin.options_prompt", {"most": MOST_OPTIONS})]
    if options:
        parts.append(Text("poll_admin.options_so_far", {"options": listed}))
    buttons = ((Button(Text("poll_admin.options_done"), ctx.payload(DONE)),),)
    return Reply(parts=tuple(parts), buttons=buttons if len(options) >= 2 else ())


async def take_options(ctx: Context, text: str) -> list[Reply]:
    options = list(ctx.data.get("options", []))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    given = [line for line in lines if line]
    if any(len(line) > LABEL_LIMIT for line in given):
        longest = max(len(line) for line in given)
        problem = Text("error.too_long", {"limit": LABEL_LIMIT, "length": longest})
        return [(await options_prompt(ctx)).after(problem)]
    every = [*options, *given]
    options = every[:MOST_OPTIONS]
    ctx.remember(options=options)
    left_out = len(every) - len(options)
    said = [say("poll_admin.options_over", most=MOST_OPTIONS, count=left_out)] if left_out else []
    if len(options) >= MOST_OPTIONS:
        return [*said, *await _after_options(ctx)]
    return [*said, await options_prompt(ctx)]


async def choose_options_done(ctx: Context, value: str) -> list[Reply] | None:
    if value != DONE or len(ctx.data.get("options", [])) < 2:
        return None
    return await _after_options(ctx)


async def _after_options(ctx: Context) -> list[Reply]:
    if ctx.data.get("kind") == "budget":
        ctx.enter(TOTAL, costs=[])
        return [await total_prompt(ctx)]
    ctx.enter(CLOSES)
    return [await closes_prompt(ctx)]


# --- a budget round's sums -----------------------------------------------------------------


def _som(text: str) -> int | None:
    """A positive sum as typed ("500 000", "300000 сом"): ASCII digits, nine at most
    (ballots.number; isdigit() took "²" and any number of digits)."""
    amount = ballots.number("".join(text.split()).removesuffix("сом").removesuffix("som"))
    return amount if amount else None


async def total_prompt(ctx: Context) -> Reply:
    return say("poll_admin.total_prompt")


async def take_total(ctx: Context, text: str) -> list[Reply]:
    total = _som(text)
    if total is None:
        return [(await total_prompt(ctx)).after(Text("poll_admin.not_a_sum"))]
    ctx.enter(COSTS, total=total, costs=[])
    return [await cost_prompt(ctx)]


async def cost_prompt(ctx: Context) -> Reply:
    options = list(ctx.data.get("options", []))
    index = len(ctx.data.get("costs", []))
    return say("poll_admin.cost_prompt", number=index + 1, option=options[index])


async def take_cost(ctx: Context, text: str) -> list[Reply]:
    cost = _som(text)
    if cost is None:
        return [(await cost_prompt(ctx)).after(Text("poll_admin.not_a_sum"))]
    costs = [*ctx.data.get("costs", []), cost]
    ctx.remember(costs=costs)
    if len(costs) < len(ctx.data.get("options", [])):
        return [await cost_prompt(ctx)]
    ctx.enter(CLOSES)
    return [await closes_prompt(ctx)]


# --- closing, preview, sending --------------------------------------------------------------


async def closes_prompt(ctx: Context) -> Reply:
    row = tuple(
        Button(Text("poll_admin.closes_in", {"days": days}), ctx.payload(str(days)))
        for days in CLOSING_DAYS
    )
    return Reply(parts=(Text("poll_admin.closes_prompt"),), buttons=(row,))


async def choose_closes(ctx: Context, value: str) -> list[Reply] | None:
    if value not in {str(days) for days in CLOSING_DAYS}:
        return None
    ctx.enter(PREVIEW, days=int(value))
    return [await preview_prompt(ctx)]


def _draft(ctx: Context) -> Poll:
    """The poll as the flow has it so far (not stored)."""
    data = ctx.data
    question = dict(data.get("question", {}))
    options = list(data.get("options", []))
    kind = str(data.get("kind", "single"))
    return Poll(
        municipality_id=int(data["place"]),
        kind=kind,
        max_choices=_max_choices(kind, len(options)),
        budget_total=data.get("total"),
        villages=None,
        sms_cap=RULES.sms_cap,
        **{f"question_{language}": question.get(language) for language in LANGUAGES},
    )


def _draft_options(ctx: Context) -> list[PollOption]:
    costs = list(ctx.data.get("costs", []))
    return [
        PollOption(position=n, label_ky=label, cost=costs[n - 1] if costs else None)
        for n, label in enumerate(ctx.data.get("options", []), start=1)
    ]


def _max_choices(kind: str, options: int) -> int:
    if kind == "priority":
        return max(min(PRIORITY_CHOICES, options - 1), 1)
    return options if kind == "budget" else 1


def _closes_at(ctx: Context) -> datetime:
    """The end of the day `days` from today, in the deployment's time zone."""
    last = ctx.today + timedelta(days=int(ctx.data.get("days", 7)))
    return datetime.combine(last + timedelta(days=1), time(), ZoneInfo(ctx.inbound.timezone))


async def preview_prompt(ctx: Context) -> Reply:
    poll = _draft(ctx)
    audience = await queries.audience_of(ctx.session, poll)
    paid = paid_channels(RULES.whatsapp_template)
    cost = preview(audience, poll, _draft_options(ctx), paid, RULES.sms_price, RULES.segments_of)
    options = list(ctx.data.get("options", []))
    costs = list(ctx.data.get("costs", []))
    listed = "\n".join(
        f"{n}. {label}" + (f" — {ballots.som(int(costs[n - 1]))}" if costs else "")
        for n, label in enumerate(options, start=1)
    )
    values = {
        "question": poll.question_ky,
        "options": listed,
        "days": Text("poll_admin.closes_in", {"days": int(ctx.data.get("days", 7))}),
        "count": audience.total,
        **{name: audience.by_channel.get(name, 0) for name in ("telegram", "sms", "whatsapp")},
        "messages": cost.recipients,
        "cost": f"{cost.price:.2f}",
    }
    pending = ctx.data.get("role") == "deputy" and not RULES.deputies_send
    send_key = "poll_admin.ask_approval" if pending else "poll_admin.send"
    row = (
        Button(Text(send_key), ctx.payload(SEND)),
        Button(Text("poll_admin.cancel"), ctx.payload(CANCEL)),
    )
    return Reply(parts=(Text("poll_admin.preview", values),), buttons=(row,))


async def choose_preview(ctx: Context, value: str) -> list[Reply] | None:
    if value == CANCEL:
        ctx.finish()
        return [say("poll_admin.cancelled")]
    if value != SEND:
        return None
    found = await _place(ctx)
    if found is None or found[0] != int(ctx.data["place"]):  # the role was taken meanwhile
        ctx.finish()
        return [say("poll_admin.officials_only")]
    place, role = found
    draft = _draft(ctx)
    costs = list(ctx.data.get("costs", []))
    options: list[dict[str, object]] = [
        {"label_ky": label, **({"cost": costs[n]} if costs else {})}
        for n, label in enumerate(ctx.data.get("options", []))
    ]
    question = dict(ctx.data.get("question", {}))
    poll = await queries.add_poll(
        ctx.session,
        place,
        question,
        options,
        _closes_at(ctx),
        kind=draft.kind,
        max_choices=draft.max_choices,
        budget_total=draft.budget_total,
        sms_cap=draft.sms_cap,
        created_by=ctx.person.id,
        status="draft",
    )
    ctx.finish()
    if role == "staff" or RULES.deputies_send:
        planned = await open_poll(ctx.session, poll, ctx.person.id, "draft")
        return [say("poll_admin.sent", code=poll.code, count=planned or 0)]
    poll.status = "pending"
    if not await _ask_staff(ctx.session, poll):  # it waits; the deputy knows why
        return [say("poll_admin.no_approver", code=poll.code)]
    return [say("poll_admin.pending", code=poll.code)]


async def open_poll(session: AsyncSession, poll: Poll, approved_by: int, was: str) -> int | None:
    """Open it if it is still `was`, and plan its sending (the running server's poll sender
    sends it); how many to send, or None if someone else decided it first."""
    now = utcnow()
    opened = await move_poll(
        session, poll, (was,), status="open", approved_by=approved_by,
        sent_at=poll.sent_at or now,
    )  # fmt: skip
    if not opened:
        return None
    planned, _ = await queries.plan_sends(
        session, poll, paid_channels(RULES.whatsapp_template), now
    )
    return planned


async def _ask_staff(session: AsyncSession, poll: Poll) -> bool:
    """The approval notice to each staff member of the poll's municipality; whether any."""
    buttons = [
        [
            ["poll_admin.approve", f"{REVIEW}:{poll.code}:approve"],
            ["poll_admin.reject", f"{REVIEW}:{poll.code}:reject"],
        ]
    ]
    values: dict[str, object] = {
        "code": poll.code,
        "question": poll.question_ky,
        "buttons": buttons,
    }
    staff = [r for r in await queries.officials(session, poll.municipality_id) if r.role == "staff"]
    for role in staff:
        await queries.add_notice(session, role.person_id, "poll_admin.review", values)
    return bool(staff)


# --- the approval notice's buttons (routed before the flow's nonce, handlers/router.py) --------


def is_review(payload: str) -> bool:
    return payload.startswith(f"{REVIEW}:")


async def review(ctx: Context, payload: str) -> list[Reply]:
    """Approve or Reject on a deputy's poll: a staff member of its municipality decides once."""
    _, code, verdict = [*payload.split(":"), "", ""][:3]
    poll = await queries.poll_by_code(ctx.session, code)
    places = await answering.places_of(ctx)
    if poll is None or poll.municipality_id not in places.staff:
        return [say("poll_admin.staff_approve")]
    decided = [say("poll_admin.decided", code=poll.code)]
    if poll.status != "pending" or verdict not in ("approve", "reject"):
        return decided
    if verdict == "reject":
        if not await move_poll(ctx.session, poll, ("pending",), status="draft"):
            return decided
        await _tell_author(ctx.session, poll, "poll_admin.rejected_notice")
        return [say("poll_admin.rejected", code=poll.code)]
    if poll.closes_at <= utcnow():  # its days are over: residents would get it closed
        return [say("poll_admin.too_late", code=poll.code)]
    planned = await open_poll(ctx.session, poll, ctx.person.id, "pending")
    if planned is None:
        return decided
    await _tell_author(ctx.session, poll, "poll_admin.approved_notice")
    return [say("poll_admin.sent", code=poll.code, count=planned)]


async def _tell_author(session: AsyncSession, poll: Poll, key: str) -> None:
    if poll.created_by is not None:
        await queries.add_notice(session, poll.created_by, key, {"code": poll.code})


# --- my polls ----------------------------------------------------------------------------------


async def list_prompt(ctx: Context) -> Reply:
    place = int(ctx.data["place"])
    polls = list(await queries.polls_of(ctx.session, [place]))[:10]
    if not polls:
        return Reply(parts=(Text("poll_admin.none"),), buttons=_back(ctx))
    ids = [poll.id for poll in polls]
    progress = await queries.progress_of(ctx.session, ids)
    answers = await queries.answer_counts(ctx.session, ids)
    lines = tuple(
        Text(
            "poll_admin.line",
            {
                "code": poll.code,
                "status": Text(f"poll_admin.status_{poll.status}"),
                "sent": progress[poll.id].counts.get("sent", 0),
                "planned": progress[poll.id].planned,
                "answers": answers.get(poll.id, 0),
                "question": poll.question(ctx.language),
            },
        )
        for poll in polls
    )
    rows = [row for poll in polls if (row := poll_buttons(ctx, poll))]
    return Reply(parts=(Text("poll_admin.list"), *lines), buttons=(*rows, *_back(ctx)))


def poll_buttons(ctx: Context, poll: Poll) -> tuple[Button, ...]:
    """A poll's results once it has been sent (so far, or final), and Close while it runs."""
    values = {"code": poll.code}
    buttons = []
    if poll.status in ("open", "closed"):
        buttons.append(
            Button(Text("poll_admin.results", values), ctx.payload(f"results:{poll.id}"))
        )
    if poll.status in ("open", "pending"):
        buttons.append(Button(Text("poll_admin.close", values), ctx.payload(f"close:{poll.id}")))
    return tuple(buttons)


def _back(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    return ((Button(Text("button.back"), ctx.payload("back")),),)


async def choose_list(ctx: Context, value: str) -> list[Reply] | None:
    if value == "back":
        ctx.enter(MENU)
        return [await menu_prompt(ctx)]
    action, _, given = value.partition(":")
    poll_id = ballots.number(given)  # nine digits at most: a crafted id is no overflow
    if action not in ("close", "results") or poll_id is None:
        return None
    poll = await queries.poll_by_id(ctx.session, poll_id)
    if poll is None or poll.municipality_id != int(ctx.data["place"]):
        return None
    if action == "results":  # aggregates only, as on the public page
        return [await poll_results.live_results(ctx, poll), await list_prompt(ctx)]
    found = await _place(ctx)  # still an official here? (the list may be old)
    if found is None or found[0] != poll.municipality_id:
        ctx.finish()
        return [say("poll_admin.officials_only")]
    if found[1] == "deputy" and poll.created_by != ctx.person.id:
        return [(await list_prompt(ctx)).after(Text("poll_admin.not_yours", {"code": poll.code}))]
    closed = await move_poll(
        ctx.session, poll, ("open", "pending"), status="closed", closed_at=utcnow()
    )
    ctx.enter(LIST)
    if not closed:  # closed already, or rejected meanwhile
        return [await list_prompt(ctx)]
    return [(await list_prompt(ctx)).after(Text("poll_admin.closed", {"code": poll.code}))]


# /poll: menu, kind, question (ky, ru, en), options, total and costs, closing, preview; my
# polls (handlers/router.py joins them).
STEPS: dict[str, Step] = {
    MENU: Step(menu_prompt, choose_menu),
    KIND: Step(kind_prompt, choose_kind),
    QUESTION: Step(question_prompt, skip_question, take_question),
    OPTIONS: Step(options_prompt, choose_options_done, take_options),
    TOTAL: Step(total_prompt, on_text=take_total),
    COSTS: Step(cost_prompt, on_text=take_cost),
    CLOSES: Step(closes_prompt, choose_closes),
    PREVIEW: Step(preview_prompt, choose_preview),
    LIST: Step(list_prompt, choose_list),
}
