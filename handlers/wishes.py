"""Wishes: "Мен өзгөрткүм келет!" (change) and "Бул – мыкты!" (great).

A wish needs a kind, a place, a category and a text. The resident may give them in any
order (a plain text first, say); `continue_wish` asks for whatever is still missing and
saves the wish once everything is there.
"""

from __future__ import annotations

from handlers import campaigns, classify, flood, media, onboarding, validation
from handlers.context import Context
from handlers.steps import Step
from handlers.types import Button, Reply, Text, in_rows, noted, say, topic_buttons
from storage import queries
from storage.channels import SHOWING
from storage.domain import wish_categories, wish_kinds
from storage.models import Wish

KIND = "wish_kind"
CATEGORY = "wish_category"
TEXT = "wish_text"

TEXT_LIMIT = 1000  # characters; enough for a paper card, short enough to read in a digest


def check_text(text: str) -> tuple[str, Text | None]:
    return validation.check_text(text, TEXT_LIMIT)


async def change(ctx: Context, argument: str) -> list[Reply]:
    """/change [text]: "Мен өзгөрткүм келет!" (SMS: ӨЗГӨРТ text)"""
    return await _start(ctx, "change", argument)


async def great(ctx: Context, argument: str) -> list[Reply]:
    """/great [text]: "Бул – мыкты!" (SMS: МЫКТЫ text)"""
    return await _start(ctx, "great", argument)


async def _start(ctx: Context, kind: str, argument: str) -> list[Reply]:
    ctx.start_flow(then="wish", kind=kind)
    problem = None
    if argument:
        cleaned, problem = check_text(argument)
        if problem is None:
            ctx.remember(text=cleaned)
    if not ctx.guided:
        if problem is not None:
            ctx.finish()
            return [Reply(parts=(problem,))]
        return [await save_at_once(ctx)]
    replies = await continue_wish(ctx)
    return noted(replies, problem)


async def save_at_once(ctx: Context) -> Reply:
    """One SMS: the text came with the keyword, perhaps after a topic code (ӨЗГӨРТ 4 …);
    without one, the text's own words name the topic (handlers/classify.py). The place may
    still be unknown (the wish is kept, and attached once the resident names it)."""
    kind = ctx.data["kind"]
    text, notes = await campaigns.take_tag(ctx, str(ctx.data.get("text", "")))
    category, text = classify.split_code(text)
    if not text:
        ctx.finish()
        return say(f"wish.text_missing.{kind}")
    ctx.remember(category=category or classify.category_of(text), text=text)
    refused = await _refused(ctx)
    if refused is not None:
        return refused
    saved = await _store(ctx)
    if ctx.person.municipality is None:
        notes.append(Text("place.hint"))
    return Reply(parts=(*saved.parts, *notes))


async def from_free_text(ctx: Context, text: str) -> list[Reply]:
    """A text sent outside any flow is taken as the start of a wish."""
    cleaned, problem = check_text(text)
    if problem is not None:
        return [Reply(parts=(problem, Text("hint.commands")))]
    ctx.start_flow(then="wish", text=cleaned)
    return await continue_wish(ctx)


async def continue_wish(ctx: Context) -> list[Reply]:
    data = ctx.data
    if "kind" not in data:
        ctx.enter(KIND)
        return [await kind_prompt(ctx)]
    if ctx.person.municipality is None:
        return [(await onboarding.ask_place(ctx)).after(Text("wish.place_first"))]
    if "category" not in data:
        ctx.enter(CATEGORY)
        return [await category_prompt(ctx)]
    if "text" not in data:
        ctx.enter(TEXT)
        return [await text_prompt(ctx)]
    return [await save(ctx)]


async def save(ctx: Context) -> Reply:
    """Store the wish, unless the sender is over the flood limit (then nothing is kept)."""
    return await _refused(ctx) or await _store(ctx)


async def _refused(ctx: Context) -> Reply | None:
    refused = await flood.over_wish_limit(ctx)
    if refused is not None:
        ctx.finish()
    return refused


async def _store(ctx: Context) -> Reply:
    data = ctx.data
    municipality = ctx.person.municipality
    wish = await queries.add_wish(
        ctx.session,
        kind=data["kind"],
        category=data["category"],
        text=data["text"],
        municipality_id=municipality.id if municipality else None,
        channel=ctx.inbound.channel,
        person_id=ctx.person.id,
        campaign_id=await campaigns.of_wish(ctx),
    )
    await media.attach_draft(ctx, wish)
    photos = media.draft_count(ctx)
    ctx.finish()
    saved = say(
        "wish.saved",
        kind=Text(f"kind.{wish.kind}"),
        category=Text(f"category.{wish.category}"),
        place=municipality.name(ctx.language) if municipality else Text("mydata.no_place"),
        reference=wish.reference,
    )
    shown = [Text("photo.with_wish", {"count": photos})] if photos else []
    if wish.latitude is not None:
        shown.append(Text("location.with_wish"))
    elif ctx.inbound.channel in SHOWING:  # the optional steps, offered
        shown.append(Text("photo.offer", {"minutes": media.RECENT_MINUTES}))
    # It can be made a formal appeal (an SMS answer stays one segment); the photo's offer,
    # good for minutes only, stays last.
    offer = appeal_offer(wish) if ctx.guided else None
    return Reply(parts=(*saved.parts, *([offer] if offer else []), *shown))


# --- steps --------------------------------------------------------------------------------


async def kind_prompt(ctx: Context) -> Reply:
    buttons = tuple((Button(Text(f"kind.{kind}"), ctx.payload(kind)),) for kind in wish_kinds())
    return Reply(parts=(Text("wish.kind_prompt"),), buttons=buttons)


async def choose_kind(ctx: Context, value: str) -> list[Reply] | None:
    if value not in wish_kinds():
        return None
    ctx.remember(kind=value)
    return await continue_wish(ctx)


async def category_prompt(ctx: Context) -> Reply:
    rows = in_rows(topic_buttons(ctx.payload))
    kind = Text(f"kind.{ctx.data.get('kind', 'change')}")
    return Reply(parts=(Text("wish.category_prompt", {"kind": kind}),), buttons=rows)


async def choose_category(ctx: Context, value: str) -> list[Reply] | None:
    if value not in wish_categories():
        return None
    ctx.remember(category=value)
    return await continue_wish(ctx)


async def text_prompt(ctx: Context) -> Reply:
    category = Text(f"category.{ctx.data.get('category', 'other')}")
    return say("wish.text_prompt", category=category, limit=TEXT_LIMIT)


async def take_text(ctx: Context, text: str) -> list[Reply]:
    cleaned, problem = check_text(text)
    if problem is not None:
        return [(await text_prompt(ctx)).after(problem)]
    ctx.remember(text=cleaned)
    return await continue_wish(ctx)


async def keep_early_text(ctx: Context, text: str, prompt: Reply) -> list[Reply]:
    """Text typed while we wait for a button: keep it as the wish's text, then ask again."""
    cleaned, problem = check_text(text)
    if problem is not None:
        return [prompt.after(problem)]
    if "text" in ctx.data:
        return [prompt.after(Text("error.use_buttons"))]
    ctx.remember(text=cleaned)
    return [prompt.after(Text("wish.text_kept"))]


async def _early_text(ctx: Context, text: str) -> list[Reply]:
    """Text typed while the kind or category is asked: kept, and the question asked again."""
    prompt = await STEPS[str(ctx.step)].prompt(ctx)
    return await keep_early_text(ctx, text, prompt)


# /change and /great: kind, category, text (handlers/router.py joins every flow's steps).
STEPS: dict[str, Step] = {
    KIND: Step(kind_prompt, choose_kind, _early_text),
    CATEGORY: Step(category_prompt, choose_category, _early_text),
    TEXT: Step(text_prompt, on_text=take_text),
}


def appeal_offer(wish: Wish) -> Text | None:
    """What a saved wish's answer adds on a chat channel: it can be made a formal appeal
    (handlers/appeals.py); not a praise, a card, or a wish without its place."""
    if wish.kind != "change" or wish.person_id is None or wish.municipality_id is None:
        return None
    return Text("appeal.offer")
