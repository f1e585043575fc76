"""Residents answer polls. /polls (SMS `СУРОО`, `ОПРОС`, `POLL`) shows their municipality's
polls open now, each with its options as buttons; `СУРОО 412` shows one, `СУРОО 412 2`
answers it at any time, and by SMS the number(s) alone answer the poll last sent to that
phone (`by_number`). A poll's buttons (`poll:{code}:{n}`, `poll:{code}:pick`) carry no
conversation nonce: a poll reaches everyone, whatever they are doing, and answering it
leaves their flow as it was. A priority vote or a budget round is chosen on Telegram and
the web chat item by item (the pick step), by SMS as several numbers.

One answer per person per poll, under a keyed pseudonym (handlers/ballots.py), changeable
until the poll closes (the last counts). After an answer, never required, the closing
questions (handlers/poll_profile.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from handlers import ballots, flood, free_text, onboarding, poll_profile, wishes
from handlers.ballots import som as _som
from handlers.context import Context
from handlers.dates import Day
from handlers.quotes import shorten, sms_cut
from handlers.steps import Replies, Step
from handlers.types import Button, Reply, Text, say
from storage import queries
from storage.models import Poll, PollOption, utcnow
from storage.queries import polls as poll_queries

PREFIX = "poll:"  # a poll button's payload: poll:{code}:{n} or poll:{code}:pick
PICK = "pick"
PICK_STEP = "poll_pick"  # Telegram and the web chat: choosing items one by one
TOGGLE, DONE = "t", "done"  # the pick step's buttons: t3.{chosen}, done.{chosen}
THEN = "polls"  # what follows the place question (handlers/router.py CONTINUATIONS)
SHOWN = 5  # polls /polls shows at once, closing soonest first
SMS_LISTED = 3  # polls an SMS lists (each by code and the start of its question)
QUESTION_IN_LIST = 24  # characters of a question in that list
QUESTION_IN_SMS = 40  # … and in one poll's SMS
OPTIONS_IN_SMS = 80  # characters all its options share: fewer options, longer labels
LABEL_IN_SMS = (6, 24)  # the fewest and most characters of an option's label there
LABEL_ON_BUTTON = 40
CODE_SHOWN = 16  # characters of a typed code said back
ANSWERS_PER_HOUR = 30  # answers one sender may give an hour (handlers/flood.py's way)
CHOSEN = "✓ "


def is_button(payload: str) -> bool:
    return payload.startswith(PREFIX)


def button(code: str, value: str) -> str:
    return f"{PREFIX}{code}:{value}"


# --- /polls, СУРОО ------------------------------------------------------------------------


async def command(ctx: Context, argument: str) -> Replies:
    """/polls lists; /polls 412 shows one; /polls 412 2 5 answers (SMS: СУРОО …)."""
    code, _, rest = argument.partition(" ")
    if not code:
        return await _list(ctx)
    if ballots.number(code) is None:
        return [say("poll.usage")]
    poll = await queries.poll_by_code(ctx.session, code)
    if not rest.strip():
        return await _show(ctx, poll, code)
    return await answer(ctx, poll, code, ballots.parse_choices(rest))


async def after_place(ctx: Context) -> Replies:
    """The place is chosen: the poll the resident pressed before it was known (to answer
    again: the choice itself is not kept beside them meanwhile), or the list."""
    data = ctx.data
    ctx.finish()
    if "poll" not in data:
        return await _list(ctx)
    code = str(data["poll"])
    return await _show(ctx, await queries.poll_by_code(ctx.session, code), code)


async def _list(ctx: Context) -> Replies:
    municipality = ctx.person.municipality
    if municipality is None:
        return await _place_first(ctx)
    ctx.finish()
    polls = list(await queries.answering_polls(ctx.session, municipality.id, utcnow()))
    if not polls:
        return [say("poll.none", place=municipality.name(ctx.language))]
    if ctx.guided or len(polls) == 1:
        return [await _message(ctx, poll) for poll in polls[:SHOWN]]
    listed = "; ".join(
        f"{poll.code} {sms_cut(poll.question(ctx.language), QUESTION_IN_LIST)}"
        for poll in polls[:SMS_LISTED]
    )
    return [say("poll.list", polls=listed)]


async def _show(ctx: Context, poll: Poll | None, code: str) -> Replies:
    unavailable = await _unavailable(ctx, poll, code)
    if unavailable is not None:
        return unavailable
    assert poll is not None
    return [await _message(ctx, poll)]


async def _message(ctx: Context, poll: Poll) -> Reply:
    """A poll as a message: its question and options (buttons where the channel has them),
    and what the resident answered, if they did."""
    options = await queries.options_of(ctx.session, poll.id)
    given = await _given(ctx, poll)
    closes = Day(ballots.last_day(poll, ctx.inbound.timezone), ctx.language)
    question = poll.question(ctx.language)
    if not ctx.guided:
        question = sms_cut(question, QUESTION_IN_SMS)
    values = {
        "code": poll.code,
        "question": question,
        "options": _option_lines(ctx, poll, options),
        "closes": closes,
        "most": poll.max_choices,
        "budget": _som(poll.budget_total or 0),
    }
    parts = [Text(f"poll.question_{poll.kind}", values)]
    if given:
        parts.append(Text("poll.answered", {"choices": _named(ctx, options, given)}))
    elif ctx.guided:
        parts.append(Text("poll.not_answered"))
    if not ctx.guided:
        return Reply(parts=tuple(parts))
    if poll.kind == ballots.SINGLE:
        buttons = tuple(
            (Button(_label(o, o.position in given, ctx), button(poll.code, str(o.position))),)
            for o in options
        )
    else:
        buttons = ((Button(Text("poll.pick_button"), button(poll.code, PICK)),),)
    return Reply(parts=tuple(parts), buttons=buttons)


def _option_lines(ctx: Context, poll: Poll, options: Sequence[PollOption]) -> str:
    """Guided: a line each ("2. Road — 300 000" in a budget round); SMS: "1 Yes, 2 No"."""
    if not ctx.guided:
        return ", ".join(_sms_option(ctx, poll, o, len(options)) for o in options)
    lines = []
    for option in options:
        line = f"{option.position}. {option.label(ctx.language)}"
        if poll.kind == ballots.BUDGET:
            line += f" — {_som(option.cost or 0)}"
        description = option.description(ctx.language)
        lines.append(f"{line}\n   {description}" if description else line)
    return "\n".join(lines)


def _sms_option(ctx: Context, poll: Poll, option: PollOption, count: int) -> str:
    """ "2 Road", or in a budget round "2 Road 300000": the label as long as the options'
    share of the SMS allows."""
    cost = f" {option.cost or 0}" if poll.kind == ballots.BUDGET else ""
    fewest, most = LABEL_IN_SMS
    room = max(fewest, min(most, OPTIONS_IN_SMS // count - len(cost) - 4))
    return f"{option.position} {sms_cut(option.label(ctx.language), room)}{cost}"


def _label(option: PollOption, chosen: bool, ctx: Context) -> str:
    label = f"{option.position}. {shorten(option.label(ctx.language), LABEL_ON_BUTTON)}"
    if option.cost is not None:
        label += f" — {_som(option.cost)}"
    return CHOSEN + label if chosen else label


def _named(ctx: Context, options: Sequence[PollOption], choices: Sequence[int]) -> str:
    """Choices as said back: their labels (guided), their numbers (SMS). Every reply that
    names what a person chose comes through here, and so is not kept with the delivery for
    a redelivery (ARCHITECTURE.md §8): the answer is kept under a pseudonym, never beside
    the person's delivery."""
    ctx.private = True
    if not ctx.guided:
        return " ".join(str(c) for c in choices)
    labels = {o.position: o.label(ctx.language) for o in options}
    return "; ".join(f"{c}. {labels.get(c, '')}" for c in choices)


# --- answering --------------------------------------------------------------------------------


async def on_button(ctx: Context, payload: str) -> Replies:
    """A poll's button, whatever the conversation's step: an option, or the pick step."""
    code, _, value = payload.removeprefix(PREFIX).partition(":")
    a_code = ballots.number(code) is not None
    poll = await queries.poll_by_code(ctx.session, code) if a_code else None
    if value == PICK:
        return await _open_pick(ctx, poll, code)
    chosen = ballots.number(value)
    return await answer(ctx, poll, code, (chosen,) if chosen is not None else None)


async def by_number(ctx: Context, text: str) -> Replies | None:
    """By SMS, numbers alone answer the poll most recently sent to this person, while it is
    open; None when the text is not numbers or no such poll is there."""
    choices = ballots.parse_choices(text)
    if choices is None:
        return None
    found = await poll_queries.last_sent_poll(ctx.session, ctx.person.id, utcnow())
    if found is None:
        return None
    return await answer(ctx, found[0], found[0].code, choices)


async def answer(
    ctx: Context, poll: Poll | None, code: str, choices: Sequence[int] | None
) -> Replies:
    """Keep the person's answer to the poll, or say why not (what they gave before stays)."""
    unavailable = await _unavailable(ctx, poll, code)
    if unavailable is not None:
        return unavailable
    assert poll is not None
    options = await queries.options_of(ctx.session, poll.id)
    problem = ballots.refusal(poll, options, choices or ())
    if problem is not None:  # what they answered before stays, and is said
        before = await _given(ctx, poll)
        return [_refused(ctx, poll, options, choices or (), problem, before)]
    limited = await _over_limit(ctx)
    if limited is not None:
        return [limited]
    if not await poll_queries.lock_answering(ctx.session, poll.id):  # closed since it looked
        return [say("poll.closed", code=poll.code)]
    person = ctx.person
    newest, *replaced = _voter_keys(ctx, poll)
    # An answer given under a secret key a rotation replaced is theirs: it moves to the
    # newest key, to be changed there (not a second answer beside it).
    await poll_queries.move_answers(ctx.session, poll.id, dict.fromkeys(replaced, newest))
    changed = await queries.record_answer(
        ctx.session,
        poll.id,
        newest,
        choices or (),
        ctx.today,
        channel=ctx.inbound.channel,
        village_id=await poll_profile.village_of(ctx, poll.municipality_id),
        age_band=poll_profile.age_of(ctx),
        gender=poll_profile.gender_of(ctx),
        joined_during=person.created_at > poll.opens_at,
    )
    said = {"code": poll.code, "choices": _named(ctx, options, choices or ())}
    # Said as the button's own answer where the channel has one (a toast on Telegram): an
    # answer is a press, not a chat message paced at Telegram's 30 a second.
    key = "poll.changed" if changed else "poll.thanks"
    replies = [Reply(parts=(Text(key, said),), toast=True)]
    if not changed and ctx.step is None:  # after a new answer, never in another flow
        question = await poll_profile.next_question(ctx, poll.municipality_id)
        if question is not None:
            # Not the answer to the press: the webhook does not wait for it (a chat message,
            # at Telegram's 30 a second), it follows (docs/decisions.md).
            replies.append(replace(question, follow_up=True))
    return replies


async def _unavailable(ctx: Context, poll: Poll | None, code: str) -> Replies | None:
    """Why this person cannot answer the poll now, or None. With no place yet, the place is
    asked first (on Telegram the poll is shown once it is chosen)."""
    if poll is None or poll.status in ("draft", "pending"):
        return [say("poll.unknown", code=code[:CODE_SHOWN])]
    municipality = ctx.person.municipality
    if municipality is None:
        return await _place_first(ctx, poll=poll.code)
    if municipality.id != poll.municipality_id:
        return [say("poll.other_place", code=poll.code, place=poll.municipality.name(ctx.language))]
    now = utcnow()
    if poll.answering(now):
        return None
    opening = poll.status == "open" and now < poll.opens_at
    return [say("poll.not_open" if opening else "poll.closed", code=poll.code)]


async def _place_first(ctx: Context, **wanted: str) -> Replies:
    if not ctx.guided:
        ctx.finish()
        return [say("poll.place_first")]
    ctx.start_flow(then=THEN, **wanted)
    return [(await onboarding.ask_place(ctx)).after(Text("poll.place_first"))]


def _refused(
    ctx: Context,
    poll: Poll,
    options: Sequence[PollOption],
    choices: Sequence[int],
    problem: str,
    before: tuple[int, ...],
) -> Reply:
    ctx.private = True  # it says what the refused choices cost, and the answer kept
    values = {
        "code": poll.code,
        "highest": len(options),
        "most": poll.max_choices,
        "budget": _som(poll.budget_total or 0),
        "spent": _som(ballots.spent(options, choices)),
    }
    kept = [Text("poll.kept", {"choices": _named(ctx, options, before)})] if before else []
    return Reply(parts=(Text(problem, values), *kept))


async def _over_limit(ctx: Context) -> Reply | None:
    """Count one more answer for this sender (and its origin: handlers/flood.py); None
    while under the limit, else the notice once an hour, then nothing said."""
    now = utcnow()
    sender = (ctx.inbound.channel, ctx.inbound.user_id, flood.hour_of(now))
    expires = now + flood.EXPIRY
    key = ctx.pseudonyms.of("poll-flood", *sender)
    if await queries.count_towards_quota(ctx.session, key, ANSWERS_PER_HOUR, expires):
        return await flood.over_origin_limit(ctx, now)
    notice = ctx.pseudonyms.of("poll-flood-notice", *sender)
    if await queries.count_towards_quota(ctx.session, notice, 1, expires):
        return say("poll.flood", limit=ANSWERS_PER_HOUR)
    ctx.quiet = True
    return Reply(parts=())


def _voter_keys(ctx: Context, poll: Poll) -> tuple[str, ...]:
    return ballots.voter_keys(ctx.pseudonyms, poll.id, ctx.person.id)


async def _given(ctx: Context, poll: Poll) -> tuple[int, ...]:
    """What the person answered to the poll (empty if nothing)."""
    given = await queries.answer_of(ctx.session, poll.id, *_voter_keys(ctx, poll))
    return tuple(int(c) for c in given.choices.split()) if given is not None else ()


# --- a priority vote or a budget round, item by item (Telegram, the web chat) ------------------
#
# What is chosen so far travels in the buttons (each carries the set it would make, as a
# bit mask: t3.5 is "choose or un-choose 3, with 1 and 3 chosen"), never in the stored
# conversation: an abandoned pick leaves no choices beside the person, only the poll's code.


async def _open_pick(ctx: Context, poll: Poll | None, code: str) -> Replies:
    unavailable = await _unavailable(ctx, poll, code)
    if unavailable is not None:
        return unavailable
    assert poll is not None
    if not ctx.guided:  # a button reaches no SMS; kept for a typed payload's sake
        return [await _message(ctx, poll)]
    ctx.start_flow(poll=poll.code)
    ctx.enter(PICK_STEP)
    return [await pick_prompt(ctx)]


async def pick_prompt(ctx: Context) -> Reply:
    """The items with what is chosen so far (this action's, or else the answer given)."""
    poll = await queries.poll_by_code(ctx.session, str(ctx.data.get("poll", "")))
    if poll is None:
        return say("poll.unknown", code="")
    options = await queries.options_of(ctx.session, poll.id)
    chosen = ctx.cache.get(PICK_STEP)
    if not isinstance(chosen, frozenset):
        chosen = frozenset(await _given(ctx, poll))
    values = {
        "question": poll.question(ctx.language),
        "most": poll.max_choices,
        "picked": len(chosen),
        "budget": _som(poll.budget_total or 0),
        "left": _som((poll.budget_total or 0) - ballots.spent(options, sorted(chosen))),
    }
    key = "poll.pick_budget" if poll.kind == ballots.BUDGET else "poll.pick"
    mask = _mask(chosen)
    rows = [
        (
            Button(
                _label(o, o.position in chosen, ctx),
                ctx.payload(f"{TOGGLE}{o.position}.{mask}"),
            ),
        )
        for o in options
    ]
    rows.append((Button(Text("poll.pick_done"), ctx.payload(f"{DONE}.{mask}")),))
    return Reply(parts=(Text(key, values),), buttons=tuple(rows))


async def choose_pick(ctx: Context, value: str) -> Replies | None:
    action, _, typed = value.partition(".")
    mask = ballots.number(typed)
    if mask is None or mask >= 1 << ballots.MAX_OPTIONS:
        return None
    poll = await queries.poll_by_code(ctx.session, str(ctx.data.get("poll", "")))
    if poll is None or not poll.answering(utcnow()):
        code = str(ctx.data.get("poll", ""))
        ctx.finish()
        return await answer(ctx, poll, code, ())
    chosen = _unmasked(mask)
    ctx.cache[PICK_STEP] = chosen
    if action == DONE:
        if not chosen:
            return [(await pick_prompt(ctx)).after(Text("poll.pick_none"))]
        ctx.finish()
        return await answer(ctx, poll, poll.code, sorted(chosen))
    options = await queries.options_of(ctx.session, poll.id)
    item = ballots.number(action.removeprefix(TOGGLE))
    if not action.startswith(TOGGLE) or item is None or not 1 <= item <= len(options):
        return None
    if item in chosen:
        chosen = chosen - {item}
    else:
        refused = _no_room(ctx, poll, options, sorted(chosen), item)
        if refused is not None:
            return [(await pick_prompt(ctx)).after(refused)]
        chosen = chosen | {item}
    ctx.cache[PICK_STEP] = chosen
    ctx.enter(PICK_STEP)  # a fresh nonce: the keyboard before this press is stale
    return [await pick_prompt(ctx)]


def _no_room(
    ctx: Context, poll: Poll, options: Sequence[PollOption], chosen: list[int], item: int
) -> Text | None:
    """Why one more item cannot be chosen: too many already, or its cost over what is left."""
    problem = ballots.refusal(poll, options, (*chosen, item))
    if problem == ballots.TOO_MANY:
        return Text("poll.pick_too_many", {"most": poll.max_choices})
    if problem == ballots.OVER_BUDGET:
        option = options[item - 1]
        left = (poll.budget_total or 0) - ballots.spent(options, chosen)
        values = {"item": option.label(ctx.language), "cost": _som(option.cost or 0)}
        return Text("poll.pick_no_room", {**values, "left": _som(left)})
    return None


def _mask(chosen: frozenset[int]) -> int:
    return sum(1 << (n - 1) for n in chosen)


def _unmasked(mask: int) -> frozenset[int]:
    return frozenset(n for n in range(1, ballots.MAX_OPTIONS + 1) if mask & 1 << (n - 1))


# --- the closing questions' plain answers -----------------------------------------------------


async def profile_text(ctx: Context, text: str) -> Replies:
    """A text at a closing question: a number answers it, unless a poll was sent since it
    was asked (the number is that poll's answer); anything else is handled as itself."""
    asked = poll_profile.asked_at(ctx)
    if not ctx.guided and asked is not None and ballots.parse_choices(text) is not None:
        found = await poll_queries.last_sent_poll(ctx.session, ctx.person.id, utcnow())
        if found is not None and found[1] > asked:
            ctx.finish()
            return await answer(ctx, found[0], found[0].code, ballots.parse_choices(text))
    replies = await poll_profile.take_number(ctx, text)
    if replies is not None:
        return replies
    ctx.finish()
    if ctx.guided:
        return await wishes.from_free_text(ctx, text)
    return await by_number(ctx, text) or await free_text.keep(ctx, text)


# The pick step and the closing questions (handlers/router.py joins every flow's steps).
# Private: the pick's keyboard marks the chosen items, and the questions' answers are a
# village, an age band, a gender (handlers/router.py's unfit_steps checks it).
STEPS: dict[str, Step] = {
    PICK_STEP: Step(pick_prompt, choose_pick, private=True),
    **{name: replace(step, on_text=profile_text) for name, step in poll_profile.STEPS.items()},
}
