"""Which handler answers what: commands, the steps of guided flows, and what follows a step.

Read this file to see the whole conversation graph; the modules it names hold the rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers import (
    account,
    announce,
    appeals,
    bribes,
    campaign_admin,
    cards,
    console_links,
    flood,
    free_text,
    inbox,
    initiatives,
    invites,
    mine,
    officials,
    onboarding,
    photos,
    picture_gate,
    poll_admin,
    poll_outcome,
    poll_profile,
    polls,
    signatures,
    wishes,
)
from handlers.context import Context
from handlers.steps import Replies, Step
from handlers.types import Reply, Text, noted
from storage.models import Municipality

# --- commands (the same names on every channel) -------------------------------------------


async def _join(ctx: Context, argument: str) -> Replies:
    """/join CODE; SMS: JOIN CODE (КОШУЛ, ВСТУПИТЬ)."""
    ctx.finish()
    return [Reply(parts=(await invites.redeem(ctx, argument),))]


async def _cancel(ctx: Context, argument: str) -> Replies:
    """/cancel: the step's own words where it has them (card mode: how to go on), else the
    general ones."""
    step = STEPS.get(ctx.step or "")
    if step is not None and step.on_cancel is not None:
        return await step.on_cancel(ctx)
    return await account.cancel(ctx, argument)


COMMANDS: dict[str, Callable[[Context, str], Awaitable[Replies]]] = {
    "start": onboarding.start,
    "change": wishes.change,
    "great": wishes.great,
    "bribe": bribes.report,
    "sign": signatures.sign,
    "initiative": initiatives.status,
    "join": _join,
    "digest": officials.digest,
    "inbox": inbox.show,
    "answer": inbox.answer_command,
    "web": console_links.web,  # staff and deputies: a one-time link to the console
    "card": cards.start,
    "campaign": campaign_admin.show,
    "poll": poll_admin.show,
    "undo": cards.undo,
    "budget": poll_outcome.budget_progress,  # staff: a funded item's progress
    "language": onboarding.language,
    "place": onboarding.place,
    "cancel": _cancel,
    "forget": account.forget,
    "stop": account.stop,
    "resume": account.resume,
    "polls": polls.command,  # SMS: СУРОО / ОПРОС / POLL [code [numbers]]
    "appeal": appeals.command,  # SMS: ӨТҮНҮЧ / ОБРАЩЕНИЕ / APPEAL [reference]
}
# Keywords of one-message channels (SMS) that have no place in a guided chat.
ONE_SHOT_ONLY = {"stop", "resume"}

# Commands that only inform: the flow under way stays, and its question is asked again.
INFO_COMMANDS: dict[str, Callable[[Context, str], Awaitable[Reply]]] = {
    "help": account.help_text,
    "privacy": account.privacy,
    "mydata": account.my_data,
    "mine": mine.mine,
}


# --- what follows once the language or the place is chosen ---------------------------------


async def _done(ctx: Context) -> Replies:
    ctx.finish()
    return []


CONTINUATIONS: dict[str, Callable[[Context], Awaitable[Replies]]] = {
    "start": onboarding.continue_start,
    "wish": wishes.continue_wish,
    "bribe": bribes.continue_report,
    "language": _done,
    "place": _done,
    "polls": polls.after_place,
}


async def _continue(ctx: Context, note: Text) -> Replies:
    return noted(await CONTINUATIONS[str(ctx.data.get("then", "place"))](ctx), note)


async def _on_language(ctx: Context, value: str) -> Replies | None:
    if not await onboarding.choose_language(ctx, value):
        return None
    return await _continue(ctx, onboarding.language_set_note(ctx))


async def _on_place(ctx: Context, value: str) -> Replies | None:
    chosen = await onboarding.choose_place(ctx, value)
    if not isinstance(chosen, Municipality):
        return chosen  # the next list, or None for a stale value
    return await _continue(ctx, Text("place.set", {"place": chosen.name(ctx.language)}))


# --- the steps of guided flows ---------------------------------------------------------------


# Choosing a language and a place: here, since what follows is any flow's (CONTINUATIONS).
ONBOARDING_STEPS: dict[str, Step] = {
    onboarding.LANGUAGE: Step(onboarding.language_prompt, _on_language),
    # A place: region, its towns and districts, a district's municipalities; or by a name
    # typed at any of them.
    onboarding.REGION: Step(onboarding.region_prompt, _on_place, onboarding.search_place),
    onboarding.DISTRICT: Step(onboarding.district_prompt, _on_place, onboarding.search_place),
    onboarding.MUNICIPALITY: Step(
        onboarding.municipality_prompt, _on_place, onboarding.search_place
    ),
    onboarding.PLACE_MATCHES: Step(onboarding.matches_prompt, _on_place, onboarding.search_place),
}

# Each flow declares its own steps, with their traits; joined, they are the conversation graph.
FLOWS: tuple[dict[str, Step], ...] = (
    ONBOARDING_STEPS,
    wishes.STEPS,  # /change, /great: kind, category, text
    account.STEPS,  # /forget: are you sure
    bribes.STEPS,  # /bribe: service, outcome, amount, month, text, confirm; all private
    signatures.STEPS,  # /sign: initiative, intro, name, PIN, address, confirm; SMS address
    cards.STEPS,  # /card: a campaign's paper cards typed in
    campaign_admin.STEPS,  # /campaign: menu, name, days, kinds
    inbox.STEPS,  # /inbox: page, filter, wish, answer, duplicate, topic
    mine.STEPS,  # the follow-up four weeks after "done"
    announce.STEPS,  # "you said, we did": topic, weeks, words, preview
    poll_admin.STEPS,  # /poll: menu, kind, question, options, sums, closing, preview; my polls
    photos.STEPS,  # where a photo was taken
    free_text.STEPS,  # SMS: a text with no keyword, save it as a wish?
    polls.STEPS,  # a priority vote's or budget round's items; the questions at a poll's end
    appeals.STEPS,  # /appeal: full name, address; private, one SMS each
)
STEPS: dict[str, Step] = {name: step for flow in FLOWS for name, step in flow.items()}

# Steps a one-message channel (SMS) can be in: its next plain message answers them.
ONE_SHOT_STEPS = {name for name, step in STEPS.items() if step.one_shot}


def unfit_steps() -> list[str]:
    """Steps that break a rule: a bribe report's step, one where a signer or an appellant
    types their details, or a poll's pick or closing question, that is not private (its
    text would be kept for a redelivery, or carried on a page), and a name two flows declare
    (one would replace the other here). Empty, as a test checks."""
    sealed = [
        *bribes.STEPS,
        *signatures.DETAILS,
        *appeals.DETAILS,
        polls.PICK_STEP,
        *poll_profile.STEPS,
    ]
    leaky = [name for name in sealed if not STEPS[name].private]
    declared = [name for flow in FLOWS for name in flow]
    return leaky + sorted({name for name in declared if declared.count(name) > 1})


def private_step(step: str | None) -> bool:
    found = STEPS.get(step or "")
    return found is not None and found.private


# --- routing one inbound action ------------------------------------------------------------


async def route(ctx: Context) -> Replies:
    before = ctx.step
    replies = await _route(ctx)
    # What a private step says, or is answered with, is never kept with the delivery for a
    # redelivery (docs/architecture.md §8): a bribe report's answers echo its service,
    # outcome and amount, a signer's steps their name, PIN and address.
    if private_step(before) or private_step(ctx.step):
        ctx.private = True
    return replies


async def _route(ctx: Context) -> Replies:
    inbound = ctx.inbound
    if inbound.location is not None:
        return await _on_location(ctx)
    if inbound.command is not None:
        replies = await _on_command(ctx, inbound.command, inbound.argument)
        return _with_pictures_note(ctx, replies)
    if inbound.pictures or inbound.picture_problem:
        return await _on_pictures(ctx)
    if inbound.button is not None:
        return await _on_button(ctx, inbound.button)
    if inbound.text is not None:
        return await _on_text(ctx, inbound.text)
    return await _with_prompt(ctx, Text("error.unsupported"))


async def _on_command(ctx: Context, command: str, argument: str) -> Replies:
    if command in COMMANDS and not (ctx.guided and command in ONE_SHOT_ONLY):
        if not ctx.guided:
            ctx.finish()  # a new SMS keyword drops a half-given signature
        return await COMMANDS[command](ctx, argument.strip())
    if command in INFO_COMMANDS:
        info = await INFO_COMMANDS[command](ctx, argument.strip().lower())
        if not ctx.guided:  # one SMS, one segment: the question under way still stands
            return [info]
        return [info, *(await _current_prompt(ctx))]
    return await _with_prompt(ctx, Text("error.unknown_command", {"command": command[:32]}))


async def _on_button(ctx: Context, payload: str) -> Replies:
    if poll_admin.is_review(payload):  # a notice's Approve / Reject: bound to no flow
        return await poll_admin.review(ctx, payload)
    if polls.is_button(payload):  # bound to no prompt: a poll reaches people in any flow
        before = ctx.step
        answered = await polls.on_button(ctx, payload)
        # The flow under way is asked again; not a poll's own closing question, which stands
        # just above the poll (a changed answer is then only a toast on Telegram: no chat
        # message, none of Telegram's 30 a second).
        if ctx.step != before or before in poll_profile.STEPS:
            return answered
        return [*answered, *(await _current_prompt(ctx))]
    value = ctx.choice(payload)
    step = STEPS.get(ctx.step or "")
    if value is not None and step is not None and step.on_choice is not None:
        replies = await step.on_choice(ctx, value)
        if replies is not None:
            ctx.button_accepted = not ctx.keep_buttons
            return replies
    return await _with_prompt(ctx, Text("error.stale_button"))


async def _on_text(ctx: Context, text: str) -> Replies:
    if not ctx.guided and ctx.step not in ONE_SHOT_STEPS:  # SMS without a keyword: kept, asked
        # unless it is numbers answering the poll last sent (docs/decisions.md)
        return await polls.by_number(ctx, text) or await free_text.keep(ctx, text)
    step = STEPS.get(ctx.step or "")
    if step is None:
        return await wishes.from_free_text(ctx, text)
    if step.on_text is None:
        return [(await step.prompt(ctx)).after(Text("error.use_buttons"))]
    return await step.on_text(ctx, text)


# --- photos and places (handlers/photos.py) -----------------------------------------------


async def _on_pictures(ctx: Context) -> Replies:
    inbound = ctx.inbound
    if inbound.pictures or inbound.picture_problem in picture_gate.REASONS:
        refused = await picture_gate.check(ctx)  # the channel's look, again, in the transaction
        if refused is not None:
            return await _pictures_refused(ctx, refused)
    elif bribes.in_report(ctx.step):  # none could be had (an MMS by a gateway)
        return await _with_prompt(ctx, Text(picture_gate.NOT_WITH_BRIBE))
    if not inbound.pictures:  # none could be taken: say why, and keep the caption's text
        return await _without_pictures(ctx, Text(inbound.picture_problem or "photo.not_an_image"))
    lost = inbound.picture_problem  # some of several could not be taken
    return noted(await photos.take(ctx), Text(lost) if lost else None)


async def _pictures_refused(ctx: Context, refused: str) -> Replies:
    """Pictures the rules do not take (handlers/picture_gate.py; the channel has not fetched
    them): said as if they had been."""
    if refused == picture_gate.OVER_LIMIT:
        return [await flood.limit_reached(ctx)]
    if refused == picture_gate.PLACE_FIRST:
        return await _place_first(ctx)
    return await _with_prompt(ctx, Text(refused))  # a bribe report's step, or one without


async def _place_first(ctx: Context) -> Replies:
    """Pictures before the place is chosen: with nothing under way, a wish starts with the
    caption as its text and the place is asked (the photo is sent again once it is set)."""
    note = Text(picture_gate.PLACE_FIRST)
    if not ctx.guided or ctx.step:
        return await _without_pictures(ctx, note)
    ctx.start_flow(then="wish")
    problem = photos.caption_as_text(ctx, ctx.inbound.text or "")
    return noted([await onboarding.ask_place(ctx)], note, problem)


async def _without_pictures(ctx: Context, problem: Text) -> Replies:
    """Say why the pictures were not taken; a caption is answered as the text it is."""
    if ctx.inbound.text:
        return noted(await _on_text(ctx, ctx.inbound.text), problem)
    return await _with_prompt(ctx, problem)


async def _on_location(ctx: Context) -> Replies:
    step = ctx.step or ""
    if bribes.in_report(step):
        return await _with_prompt(ctx, Text("location.not_with_bribe"))
    if step and step not in photos.WISH_STEPS and step != photos.PLACE:
        return await _with_prompt(ctx, Text("location.not_here"))
    return await photos.locate(ctx)


def _with_pictures_note(ctx: Context, replies: Replies) -> Replies:
    """A keyword's message (an MMS) came with pictures: say what became of those the wish
    did not take."""
    inbound = ctx.inbound
    note: str | None
    if ctx.kept_pictures or not inbound.pictures:
        note = inbound.picture_problem  # one that could not be fetched, if any
    elif ctx.private or inbound.command == "bribe":
        note = "photo.not_with_bribe"
    else:
        note = "photo.not_here"
    if note is None or not replies:  # nothing said (a flooder): nothing added
        return replies
    return noted(replies, Text(note))


async def _current_prompt(ctx: Context) -> Replies:
    step = STEPS.get(ctx.step or "")
    return [await step.prompt(ctx)] if step else []


async def _with_prompt(ctx: Context, problem: Text) -> Replies:
    """Say what was wrong, then repeat the question under way (or how to begin)."""
    step = STEPS.get(ctx.step or "")
    if step is None:
        return [Reply(parts=(problem, Text("hint.commands")))]
    return [(await step.prompt(ctx)).after(problem)]
