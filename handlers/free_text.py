"""A text with no keyword on a one-message channel (SMS, WhatsApp): never dropped. Most people
write plainly, so the text is kept as a draft in the conversation and its sender is asked, in
one SMS and in the language they wrote in, whether to save it as a wish — 1 "I want to
change", 2 "This is great", 0 no — naming the topic when its words clearly say one.

1 or 2 saves it as a keyword's wish is saved (the topic from its words, a campaign's #tag,
the place rules: handlers/wishes.py `save_at_once`); 0 discards it; another plain text that
could be a wish's words joins it (one message sent as several SMS) and the question is asked
again; anything else discards it and is handled as itself. The reply is bound to this draft
alone (its step), not to any number sent later. A draft nobody answers expires: it is not
taken after DRAFT_LIFETIME, and the housekeeping sweep wipes it (bot/runtime/housekeeping.py),
as it does abandoned bribe reports and signatures. A text too short to be a wish (a
greeting) is answered with the keyword help instead.
"""

from __future__ import annotations

from datetime import timedelta

from handlers import account, classify, wishes
from handlers.context import Context
from handlers.steps import Step
from handlers.types import Reply, Text, say

DRAFT = "text_draft"  # the step: save this text as a wish?
# Long enough for a resident who reads the question hours later; the bare number answers
# only this question (a poll asked later is its own step).
DRAFT_LIFETIME = timedelta(days=1)
MIN_WORDS = 2  # words with letters: "Салам" alone is a greeting, "Жарык жок" a wish
KINDS = {"1": "change", "2": "great"}
DISCARD = "0"


async def keep(ctx: Context, text: str) -> list[Reply]:
    """Keep the text as a draft and ask about it; the help if it cannot be a wish."""
    cleaned, problem = wishes.check_text(text)
    if problem is not None and problem.key == "error.too_long":
        return [Reply(parts=(problem,))]
    if problem is not None or not _wish_like(cleaned):
        return [await account.help_text(ctx, "")]
    ctx.start_draft(DRAFT_LIFETIME, text=cleaned)
    ctx.enter(DRAFT)
    return [await ask(ctx)]


async def ask(ctx: Context) -> Reply:
    category = _named_category(str(ctx.data.get("text", "")))
    if category is None:
        return say("free_text.ask")
    return say("free_text.ask_topic", category=Text(f"category.{category}"))


async def take_reply(ctx: Context, text: str) -> list[Reply]:
    """The answer to the question: 1 or 2 saves the draft, anything else discards it."""
    draft = str(ctx.data.get("text", ""))
    answer = text.strip().rstrip(".!)")
    if ctx.draft_expired:
        ctx.finish()
        return await keep(ctx, text)
    if answer in KINDS:
        ctx.start_flow(then="wish", kind=KINDS[answer], text=draft)
        return [await wishes.save_at_once(ctx)]
    if answer == DISCARD:
        ctx.finish()
        return [say("free_text.dropped")]
    if (joined := _joined(draft, text)) is not None:
        return await keep(ctx, joined)
    ctx.finish()
    return await keep(ctx, text)


def _joined(draft: str, text: str) -> str | None:
    """The draft with this text after it, when the text reads as more of the same message
    (people split one message over several SMS); None when it cannot be a wish's words or
    the two would be too long together."""
    joined = f"{draft}\n{text.strip()}"
    if not _wish_like(text) or wishes.check_text(joined)[1] is not None:
        return None
    return joined


def _wish_like(text: str) -> bool:
    return sum(1 for word in text.split() if any(char.isalpha() for char in word)) >= MIN_WORDS


def _named_category(text: str) -> str | None:
    """The topic to name in the question: a leading topic code's, else the one the words
    clearly name; None for "other" or when unsure."""
    coded, rest = classify.split_code(text)
    category = coded or classify.confident_category(rest)
    return None if category == classify.OTHER else category


# The question about a text with no keyword (handlers/router.py joins every flow's steps).
STEPS: dict[str, Step] = {
    DRAFT: Step(ask, on_text=take_reply, one_shot=True),
}
