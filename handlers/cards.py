"""Card mode: an organizer at a street stand types the paper cards passers-by wrote.

/card [CODE] opens it for a campaign running today in a municipality the person organizes
(or volunteers in: an organizer invites volunteers from /campaign).
Then every message is one card, saved at once: "+ text" for "Мен өзгөрткүм келет!", "* text"
for "Бул – мыкты!" (or no sign, once a kind is chosen for all cards with the buttons, or when
the campaign takes one kind only), an optional topic code after the sign ("+ 4 text"), else
the topic the text's words name; a saved card's button puts it under another topic, chosen
by buttons. A card whose kind is not known or not taken waits for the kind's button; the
next card typed instead drops it, and says so. A card records the campaign and the
volunteer who typed it, never the passer-by. /undo takes back the volunteer's last card
within ten minutes; /cancel leaves card mode.

A paper ballot of a poll open in the campaign's municipality is typed as its code and the
number(s) chosen, "412 2" (or "412 2 5 7"; the SMS keyword before it is taken too): saved at
once as one answer on paper, then the village it came from is a button away — and stays for
the ballots after it, as a stand stands in one village. /undo takes it back as a card.
Ballots are typed until the poll's results are out, after its close too; once they are out,
a ballot is neither added nor changed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from handlers import ballots, classify, poll_results, wishes
from handlers.context import Context
from handlers.quotes import shorten
from handlers.steps import Step
from handlers.types import Button, Reply, Text, in_rows, noted, say, topic_buttons
from storage import channels, queries
from storage.domain import wish_categories
from storage.models import Campaign, Poll, Village, utcnow

CARD = "card"  # the step: every text is a card
CHANNEL = channels.CARD
SIGNS = {"+": "change", "*": "great"}
EACH = "each"  # no kind for all cards: each is signed
TOPIC = "t:"  # a saved card's button, "t:REF": choose another topic for it
REFILE = "c:"  # a topic's button, "c:REF:CATEGORY"
UNDO_WINDOW = timedelta(minutes=10)
DROPPED_LENGTH = 60  # characters of a dropped card's text quoted back
TYPISTS = ("organizer", "volunteer")  # who may type cards
CARDS_PER_HOUR = 600  # one volunteer's ceiling: a card every six seconds, for an hour
VILLAGE = "v:"  # a ballot's village button, "v:BALLOT:VILLAGE" (0: not said)
# A paper ballot: a poll's code, then the number(s) chosen; the SMS keyword may come first.
BALLOT = re.compile(r"^\s*(?:(?:СУРОО|ОПРОС|POLL)\s+)?(\d{3,6})\s+(\d[\d\s,;.]*)$", re.IGNORECASE)


async def start(ctx: Context, argument: str) -> list[Reply]:
    """/card [CODE]"""
    ctx.finish()
    places = await queries.organizer_places(ctx.session, ctx.person, TYPISTS)
    if not places:
        return [say("card.organizers_only")]
    running = await queries.running_campaigns(ctx.session, [p.id for p in places], ctx.today)
    code = argument.strip().upper()
    chosen = [c for c in running if c.code == code] if code else running
    if not chosen:
        return [say("card.no_campaign")]
    if len(chosen) > 1:
        return [say("card.which", codes=", ".join(c.code for c in chosen))]
    campaign = chosen[0]
    only = campaign.only_kind()  # one kind: its cards need no sign
    ctx.start_flow(campaign=campaign.id, name=campaign.name, count=0, only=only)
    ctx.enter(CARD)
    return [await card_prompt(ctx)]


async def card_prompt(ctx: Context) -> Reply:
    """How to type cards, with a button for each kind the campaign takes: a campaign of one
    kind needs no sign, and shows its kind's button only for a card waiting for it."""
    data = ctx.data
    values = {"name": data.get("name", ""), "count": data.get("count", 0)}
    only = data.get("only")
    if only:
        button = Button(Text(f"kind.{only}"), ctx.payload(str(only)))
        prompt = Text("card.prompt_only", {**values, "kind": Text(f"kind.{only}")})
        return Reply(parts=(prompt,), buttons=((button,),) if data.get("pending") else ())
    kinds = [Button(Text(f"kind.{kind}"), ctx.payload(kind)) for kind in SIGNS.values()]
    each = Button(Text("card.each"), ctx.payload(EACH))
    return Reply(parts=(Text("card.prompt", values),), buttons=in_rows([*kinds, each], 1))


def _kinds(ctx: Context) -> tuple[str, ...]:
    """The kind buttons this campaign's prompt shows (the only kind, or both and "each")."""
    only = ctx.data.get("only")
    return (str(only),) if only else (*SIGNS.values(), EACH)


async def choose(ctx: Context, value: str) -> list[Reply] | None:
    """A button of card mode: a kind for all cards, another topic for a saved card."""
    if value.startswith(TOPIC):
        return [_topics(ctx, value.removeprefix(TOPIC))]
    if value.startswith(REFILE):
        reference, _, category = value.removeprefix(REFILE).partition(":")
        return [await _refile(ctx, reference, category)]
    if value.startswith(VILLAGE):
        return [await _ballot_village(ctx, value.removeprefix(VILLAGE))]
    return await choose_kind(ctx, value)


async def choose_kind(ctx: Context, value: str) -> list[Reply] | None:
    """The kind for all cards from now on (or each signed); a card waiting for its kind is
    saved with it."""
    if value not in _kinds(ctx):  # a kind the campaign does not take: not a button of ours
        return None
    kind = None if value == EACH else value
    ctx.remember(kind=kind)  # the saved cards' buttons stay good
    pending = ctx.data.get("pending")
    if pending and kind:
        ctx.remember(pending=None)
        return [await _save(ctx, kind, str(pending))]
    return [say("card.kind_set", kind=Text(f"kind.{kind}") if kind else Text("card.each"))]


async def take_card(ctx: Context, text: str) -> list[Reply]:
    ballot = await _ballot_poll(ctx, text)
    if ballot is not None:
        return noted([await _save_ballot(ctx, *ballot)], _drop_pending(ctx))
    dropped = _drop_pending(ctx)  # a card still waiting for its kind is not kept: said so
    sign = text.strip()[:1]
    kind = SIGNS.get(sign) or ctx.data.get("kind") or ctx.data.get("only")
    body = text.strip()[1:] if sign in SIGNS else text
    if kind is None:  # kept until the kind is chosen
        ctx.remember(pending=body)
        return noted([(await card_prompt(ctx)).after(Text("card.which_kind"))], dropped)
    return noted([await _save(ctx, str(kind), body)], dropped)


def _drop_pending(ctx: Context) -> Text | None:
    """The card waiting for its kind, dropped: the line that says so, if there was one."""
    pending = ctx.data.get("pending")
    if not pending:
        return None
    ctx.remember(pending=None)
    return Text("card.dropped", {"text": shorten(str(pending), DROPPED_LENGTH)})


async def _save(ctx: Context, kind: str, typed: str) -> Reply:
    category, body = classify.split_code(typed.strip())
    text, problem = wishes.check_text(body)
    if problem is not None:
        return (await card_prompt(ctx)).after(problem)
    campaign = await _campaign(ctx)
    if campaign is None:
        ctx.finish()
        return say("card.campaign_over")
    if not campaign.takes(kind):  # refused; it waits for a kind the campaign takes
        ctx.remember(pending=typed)
        taken = Text(f"kind.{campaign.kinds_taken()[0]}")
        refused = Text("card.kind_not_taken", {"kind": Text(f"kind.{kind}"), "taken": taken})
        return (await card_prompt(ctx)).after(refused)
    if not await _within_quota(ctx):
        return say("card.flood", limit=CARDS_PER_HOUR)
    wish = await queries.add_wish(
        ctx.session,
        kind=kind,
        category=category or classify.category_of(text),
        text=text,
        municipality_id=campaign.municipality_id,
        channel=CHANNEL,
        person_id=None,  # the passer-by who wrote it is nobody we can tell
        campaign_id=campaign.id,
        entered_by=ctx.person.id,
    )
    count = int(ctx.data.get("count", 0)) + 1
    ctx.remember(count=count, last_ballot=None)  # /undo takes this card back now
    saved = Text(
        "card.saved",
        {
            "count": count,
            "kind": Text(f"kind.{wish.kind}"),
            "category": Text(f"category.{wish.category}"),
            "reference": wish.reference,
        },
    )
    topic = Button(Text("card.topic_button"), ctx.payload(TOPIC + wish.reference))
    return Reply(parts=(saved,), buttons=((topic,),))


def _topics(ctx: Context, reference: str) -> Reply:
    """The topics as buttons, for a card just saved under the wrong one."""
    rows = in_rows(topic_buttons(lambda key: ctx.payload(f"{REFILE}{reference}:{key}")))
    return Reply(parts=(Text("card.topic_prompt", {"reference": reference}),), buttons=rows)


async def _refile(ctx: Context, reference: str, category: str) -> Reply:
    """The card under the topic chosen, if this typist typed it in the last ten minutes
    (as long as /undo could take it back)."""
    if category not in wish_categories():
        return await card_prompt(ctx)
    card = await queries.card_of(ctx.session, ctx.person.id, reference, utcnow() - UNDO_WINDOW)
    if card is None:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        return (await card_prompt(ctx)).after(Text("card.too_late", {"minutes": minutes}))
    card.category = category
    return say("card.refiled", reference=reference, category=Text(f"category.{category}"))


async def _campaign(ctx: Context) -> Campaign | None:
    """The campaign being typed for, if it still runs."""
    campaign_id = ctx.data.get("campaign")
    if not isinstance(campaign_id, int):
        return None
    campaign = await queries.campaign_by_id(ctx.session, campaign_id)
    return campaign if campaign is not None and campaign.running(ctx.today) else None


async def undo(ctx: Context, _argument: str) -> list[Reply]:
    """/undo: the volunteer's last card, if typed in the last ten minutes, is taken back;
    in card mode, their last paper ballot if that came after it."""
    if ctx.step == CARD and ctx.data.get("last_ballot"):
        return [await _undo_ballot(ctx, int(ctx.data["last_ballot"]))]
    last = await queries.last_card_of(ctx.session, ctx.person.id, utcnow() - UNDO_WINDOW)
    if last is None:
        return [say("card.nothing_to_undo", minutes=int(UNDO_WINDOW.total_seconds() // 60))]
    reference = last.reference
    await ctx.session.delete(last)
    if ctx.step == CARD:
        ctx.remember(count=max(int(ctx.data.get("count", 0)) - 1, 0))
    return [say("card.undone", reference=reference)]


async def close(ctx: Context) -> list[Reply]:
    """/cancel in card mode: how many cards were typed, and how to go on."""
    dropped = _drop_pending(ctx)
    count = int(ctx.data.get("count", 0))
    ctx.finish()
    return noted([say("card.closed", count=count)], dropped)


# --- paper ballots ----------------------------------------------------------------------


async def _ballot_poll(ctx: Context, text: str) -> tuple[Poll, tuple[int, ...]] | None:
    """The poll and choices a text types as a paper ballot: a code of a poll of the
    campaign's municipality, then numbers. None: not a ballot (it is a card)."""
    match = BALLOT.match(text)
    campaign = await _campaign(ctx) if match else None
    if match is None or campaign is None:
        return None
    poll = await queries.poll_by_code(ctx.session, match.group(1))
    choices = ballots.parse_choices(match.group(2))
    if poll is None or poll.municipality_id != campaign.municipality_id or choices is None:
        return None
    return poll, choices


def _takes_paper(poll: Poll) -> bool:
    """Paper ballots are typed while the poll is answered and after its close until its
    results are out: those collected on the last day are typed when the volunteer can."""
    now = utcnow()
    if poll.answering(now):
        return True
    return poll.opens_at <= now and poll_results.closed(poll) and poll.results_sent_at is None


async def _save_ballot(ctx: Context, poll: Poll, choices: tuple[int, ...]) -> Reply:
    locked = await queries.poll_for_ballot(ctx.session, poll.id)  # the results wait for it
    if locked is None or not _takes_paper(locked):
        out = locked is not None and locked.results_sent_at is not None
        refused = "poll_results.ballot_results_out" if out else "poll_results.ballot_not_open"
        return (await card_prompt(ctx)).after(Text(refused, {"code": poll.code}))
    options = await queries.options_of(ctx.session, poll.id)
    why = ballots.refusal(poll, options, choices)
    if why == ballots.OVER_BUDGET:
        spent = {
            "code": poll.code,
            "spent": ballots.som(ballots.spent(options, choices)),
            "budget": ballots.som(poll.budget_total or 0),
        }
        return (await card_prompt(ctx)).after(Text("poll_results.ballot_over_budget", spent))
    if why is not None:
        limits = {"code": poll.code, "max": poll.max_choices, "options": len(options)}
        return (await card_prompt(ctx)).after(Text("poll_results.ballot_refused", limits))
    if not await _within_quota(ctx):
        return say("card.flood", limit=CARDS_PER_HOUR)
    village = ctx.data.get("village")  # the stand's, once a button named it
    key = ballots.paper_key()
    await queries.record_answer(
        ctx.session,
        poll.id,
        key,
        choices,
        ctx.today,
        channel=poll_results.PAPER,
        village_id=village or None,
        entered_by=ctx.person.id,
    )
    saved = await queries.answer_of(ctx.session, poll.id, key)
    assert saved is not None
    count = int(ctx.data.get("ballots", 0)) + 1
    ctx.remember(ballots=count, last_ballot=saved.id)
    villages = await queries.villages_of(ctx.session, poll.municipality_id)
    values = {
        "count": count,
        "code": poll.code,
        "choices": " ".join(str(c) for c in choices),
        "village": _village_name(villages, village, ctx.language),
    }
    buttons = [
        Button(f"{v.position}. {v.name(ctx.language)}", ctx.payload(f"{VILLAGE}{saved.id}:{v.id}"))
        for v in villages
    ]
    buttons.append(Button(Text("poll_results.no_village"), ctx.payload(f"{VILLAGE}{saved.id}:0")))
    rows = in_rows(buttons) if villages else ()
    return Reply(parts=(Text("poll_results.ballot_saved", values),), buttons=rows)


def _village_name(villages: Sequence[Village], village: object, language: str) -> Text | str:
    """The village's name, or "not said"."""
    for v in villages:
        if v.id == village:
            return v.name(language)
    return Text("poll_results.no_village")


async def _ballot_village(ctx: Context, value: str) -> Reply:
    """A saved ballot's village, from its button; the next ballots take it too."""
    ballot_id, _, village_id = value.partition(":")
    ballot_number, village_number = ballots.number(ballot_id), ballots.number(village_id)
    if ballot_number is None or village_number is None:
        return await card_prompt(ctx)
    ballot = await queries.ballot_of(ctx.session, ctx.person.id, ballot_number)
    if ballot is None:
        return await card_prompt(ctx)
    poll = await queries.poll_for_ballot(ctx.session, ballot.poll_id)
    assert poll is not None
    if poll.results_sent_at is not None:  # counted and sent: it stays as it was counted
        return say("poll_results.ballot_counted", code=poll.code)
    villages = await queries.villages_of(ctx.session, poll.municipality_id)
    chosen = next((v.id for v in villages if v.id == village_number), None)
    ballot.village_id = chosen
    ctx.remember(village=chosen)
    ctx.keep_buttons = True  # a slip of the finger is put right with another
    values = {
        "count": ctx.data.get("ballots", 0),
        "village": _village_name(villages, chosen, ctx.language),
    }
    return say("poll_results.ballot_village", **values)


async def _undo_ballot(ctx: Context, ballot_id: int) -> Reply:
    ballot = await queries.ballot_of(ctx.session, ctx.person.id, ballot_id)
    ctx.remember(last_ballot=None)
    if ballot is None:
        return say("card.nothing_to_undo", minutes=int(UNDO_WINDOW.total_seconds() // 60))
    poll = await queries.poll_for_ballot(ctx.session, ballot.poll_id)
    if poll is not None and poll.results_sent_at is not None:
        return say("poll_results.ballot_counted", code=poll.code)
    ctx.remember(ballots=max(int(ctx.data.get("ballots", 0)) - 1, 0))
    await ctx.session.delete(ballot)
    return say("poll_results.ballot_undone", code=poll.code if poll else "")


async def _within_quota(ctx: Context) -> bool:
    """A volunteer's cards and ballots together stay under CARDS_PER_HOUR."""
    hour = utcnow().strftime("%Y-%m-%dT%H")
    key = ctx.pseudonyms.of("cards", str(ctx.person.id), hour)
    return await queries.count_towards_quota(
        ctx.session, key, CARDS_PER_HOUR, utcnow() + timedelta(hours=2)
    )


# /card: a campaign's paper cards typed in (handlers/router.py joins every flow's steps).
STEPS: dict[str, Step] = {
    CARD: Step(card_prompt, choose, take_card, on_cancel=close),
}
