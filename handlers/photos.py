"""A photo or a place sent to the bot: it starts a wish, joins the wish being written, or
joins the wish sent a few minutes before. Never a bribe report: a picture or a place can
identify the person who reports.

A place is kept only once the resident says it is where the problem is — a phone's "my
location" is often their home, which we must not keep.
"""

from __future__ import annotations

from handlers import media, wishes
from handlers.context import Context
from handlers.mine import ANSWER_WORDS, NO, YES
from handlers.steps import Step
from handlers.types import Button, Reply, Text, noted, say

PLACE = "wish_place"  # step: is this where the problem is?
WISH_STEPS = {wishes.KIND, wishes.CATEGORY, wishes.TEXT}
SHOWING_STEPS = {*WISH_STEPS, PLACE}  # where a photo is taken


# --- photos --------------------------------------------------------------------------------


async def take(ctx: Context) -> list[Reply]:
    """Pictures outside any flow, or while a wish is written (the router has refused them
    elsewhere). A caption is the wish's text."""
    caption = ctx.inbound.text or ""
    if ctx.step in WISH_STEPS:
        return await _into_draft(ctx, caption)
    if ctx.step == PLACE:  # a photo before the answer about the place: kept, then asked again
        return [(await place_prompt(ctx)).after(await _while_placing(ctx))]
    if not ctx.guided or not caption:
        recent = await media.recent_wish(ctx)
        if recent is not None:  # a photo right after a wish: it goes with that one
            return [await media.add_to_wish(ctx, recent)]
        if not ctx.guided:
            return [say("photo.sms_how")]
    ctx.start_flow(then="wish")
    return await _into_draft(ctx, caption)


async def _into_draft(ctx: Context, caption: str) -> list[Reply]:
    taken = _taken_note(ctx, media.take_into_draft(ctx))
    problem = caption_as_text(ctx, caption)  # before the wish goes on: it may be its text
    return noted(await wishes.continue_wish(ctx), taken, problem)


def caption_as_text(ctx: Context, caption: str) -> Text | None:
    """A caption becomes the wish's text, unless it has one; why it could not, if so."""
    if not caption or "text" in ctx.data:
        return None
    cleaned, problem = wishes.check_text(caption)
    if problem is None:
        ctx.remember(text=cleaned)
    return problem


async def _while_placing(ctx: Context) -> Text:
    """The photo joins what the place is asked for: the wish being written, or the one just
    saved."""
    target, caption = ctx.data.get("target"), ctx.inbound.text or ""
    if target is None:
        caption_as_text(ctx, caption)  # a caption too long is asked for again as the text
        return _taken_note(ctx, media.take_into_draft(ctx))
    wish = await media.recent_wish(ctx)
    if wish is None or wish.id != target:
        return Text("photo.not_here")
    return (await media.add_to_wish(ctx, wish)).parts[0]


def _taken_note(ctx: Context, taken: int) -> Text:
    if not taken:
        return Text("photo.limit_draft", {"limit": media.PHOTO_LIMIT})
    return Text("photo.added", {"count": media.draft_count(ctx), "limit": media.PHOTO_LIMIT})


# --- places --------------------------------------------------------------------------------


async def locate(ctx: Context) -> list[Reply]:
    """A shared location: asked whether it is the problem's place before anything is kept."""
    place = media.place_of(ctx.inbound.location)
    if place is None:
        return [say("location.outside")]
    if ctx.step == PLACE:  # another place before answering about the first: this one
        ctx.enter(PLACE, pending=list(place))
        return [await place_prompt(ctx)]
    target = None
    if ctx.step not in WISH_STEPS:
        recent = await media.recent_wish(ctx)
        if recent is not None:
            target = recent.id
        elif not ctx.guided:
            return [say("location.sms_first")]
        else:
            ctx.start_flow(then="wish")
    back = ctx.step if ctx.step in WISH_STEPS else None
    ctx.enter(PLACE, pending=list(place), target=target, back=back)
    return [await place_prompt(ctx)]


async def place_prompt(ctx: Context) -> Reply:
    if not ctx.guided:
        return say("location.ask_sms")
    buttons = (
        (Button(Text("location.yes"), ctx.payload(YES)),),
        (Button(Text("location.no"), ctx.payload(NO)),),
    )
    return Reply(parts=(Text("location.ask"),), buttons=buttons)


async def choose_place(ctx: Context, value: str) -> list[Reply] | None:
    if value not in (YES, NO):
        return None
    data = ctx.data
    pending, target, back = data.get("pending"), data.get("target"), data.get("back")
    place = None
    if value == YES and isinstance(pending, list):
        place = float(pending[0]), float(pending[1])
    if target is not None:
        ctx.finish()
        return [await _place_saved_wish(ctx, int(target), place)]
    leftover = {k: v for k, v in data.items() if k not in ("pending", "target", "back")}
    if place is not None:
        leftover.update(latitude=place[0], longitude=place[1])
    ctx.start_flow(**leftover)
    if back:
        ctx.enter(back)
    note = Text("location.kept" if place else "location.dropped")
    return noted(await wishes.continue_wish(ctx), note)


async def _place_saved_wish(ctx: Context, target: int, place: tuple[float, float] | None) -> Reply:
    if place is None:
        return say("location.dropped")
    wish = await media.recent_wish(ctx)
    if wish is None or wish.id != target:
        return say("location.too_late")
    wish.latitude, wish.longitude = place
    return say("location.attached", reference=wish.reference)


async def take_place_text(ctx: Context, text: str) -> list[Reply]:
    """SMS and WhatsApp: the next message answers with a word (1 or ООБА keeps it)."""
    if text.strip().upper() in ANSWER_WORDS[YES]:
        return await choose_place(ctx, YES) or []
    ctx.finish()
    return [say("location.dropped")]


# Where a photo was taken (handlers/router.py joins every flow's steps).
STEPS: dict[str, Step] = {
    PLACE: Step(place_prompt, choose_place, take_place_text, one_shot=True),
}
