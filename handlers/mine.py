"""A resident's side of the answer loop: /mine (SMS `МЕНИКИ`, `МОИ`, `MINE`) lists their
last wishes with status and answers; four weeks after a wish is done they are asked once
whether it really was (`ask_followups`, a scheduled job), and a "no" reopens it and tells
the municipality's staff."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import wishes
from handlers.answering import shown_status, status_text
from handlers.context import Context
from handlers.quotes import shorten
from handlers.steps import Step
from handlers.types import Button, Reply, Text, say
from storage import queries
from storage.models import Wish, utcnow

MINE = 3  # wishes listed
FOLLOWUP = "followup"  # the step: "was it really done?"
FOLLOWUP_AFTER = timedelta(weeks=4)
FOLLOWUP_BATCH = 50
QUOTE = 80  # characters of the wish quoted in the question
YES, NO = "yes", "no"
# Plain answers by SMS (one message, no buttons): a number, or the word in any language.
ANSWER_WORDS = {
    YES: ("1", "ООБА", "ОБА", "ДА", "YES", "OOBA"),
    NO: ("2", "ЖОК", "НЕТ", "NO", "JOK", "NET"),
}


async def mine(ctx: Context, _argument: str) -> Reply:
    """The last wishes, newest first; an answer under its wish."""
    wishes = await queries.wishes_of(ctx.session, ctx.person.id, MINE)
    if not wishes:
        return say("mine.none")
    parts = [Text("mine.header")]
    for wish in wishes:
        parts.append(
            Text(
                "mine.line",
                {
                    "reference": wish.reference,
                    "date": wish.created_at.date().isoformat(),
                    "topic": Text(f"category.{wish.category}"),
                    "status": Text(f"status.{shown_status(wish)}"),
                },
            )
        )
        if wish.answer and wish.status != "duplicate":
            parts.append(Text("mine.answer", {"answer": wish.answer}))
    return Reply(parts=tuple(parts))


# --- "was it really done?" --------------------------------------------------------------


async def ask_followups(session: AsyncSession, now: datetime) -> int:
    """Ask each resident whose wish was done four weeks ago, once. The question becomes
    their conversation's step, so its buttons (or a plain reply by SMS) answer it; someone
    in the middle of another flow is asked on a later run. How many were asked."""
    asked = 0
    for wish in await queries.due_followups(session, now - FOLLOWUP_AFTER, FOLLOWUP_BATCH):
        person = await queries.person_by_id(session, wish.person_id or 0)
        if person is None:
            continue
        conversation = await queries.conversation_of(session, person.id)  # locked: in order
        if conversation.step is not None:  # began a flow since: next time
            continue
        if not await queries.claim_followup(session, wish.id, now):  # another worker's
            continue
        nonce = secrets.token_urlsafe(4)[:6]
        conversation.step, conversation.nonce = FOLLOWUP, nonce
        conversation.data = {"wish": wish.id}
        await queries.save_conversation(session, conversation)
        values = _question_values(wish)
        buttons = [[["followup.yes", f"{nonce}:{YES}"], ["followup.no", f"{nonce}:{NO}"]]]
        await queries.add_notice(session, person.id, "followup.ask", {**values, "buttons": buttons})
        asked += 1
    return asked


def _question_values(wish: Wish) -> dict[str, object]:
    return {"reference": wish.reference, "text": shorten(wish.text, QUOTE)}


async def followup_prompt(ctx: Context) -> Reply:
    wish = await queries.wish_by_id(ctx.session, int(ctx.data.get("wish", 0)))
    values = _question_values(wish) if wish is not None else {"reference": "", "text": ""}
    buttons = (
        (
            Button(Text("followup.yes"), ctx.payload(YES)),
            Button(Text("followup.no"), ctx.payload(NO)),
        ),
    )
    return Reply(parts=(Text("followup.ask", values),), buttons=buttons)


async def choose_followup(ctx: Context, value: str) -> list[Reply] | None:
    if value not in (YES, NO):
        return None
    wish = await queries.wish_by_id(ctx.session, int(ctx.data.get("wish", 0)))
    ctx.finish()
    if wish is None or wish.followup is not None or wish.status != "done":
        return [say("followup.already")]  # answered before, or staff changed it since
    wish.followup = value
    if value == YES:
        return [say("followup.thanks_yes")]
    wish.status, wish.status_at = "accepted", utcnow()
    await _tell_staff(ctx.session, wish)
    return [say("followup.reopened", reference=wish.reference)]


async def take_followup_text(ctx: Context, text: str) -> list[Reply]:
    """By SMS the answer is a plain message: 1 / 2, or yes / no in any language."""
    word = text.strip().upper().rstrip(".!")
    for value, words in ANSWER_WORDS.items():
        if word in words:
            return await choose_followup(ctx, value) or []
    if ctx.guided:  # on Telegram other text is a new wish: the question is let go
        ctx.finish()
        return await wishes.from_free_text(ctx, text)
    return [(await followup_prompt(ctx)).after(Text("followup.how"))]


async def _tell_staff(session: AsyncSession, wish: Wish) -> None:
    if wish.municipality_id is None:
        return
    values: dict[str, object] = {
        "reference": wish.reference,
        "topic": {"t": f"category.{wish.category}"},
        "status": status_text(wish.status),
    }
    staff = {
        role.person_id
        for role in await queries.officials(session, wish.municipality_id)
        if role.role == "staff"
    }
    for person_id in sorted(staff):
        await queries.add_notice(session, person_id, "followup.staff_reopened", values)


# The follow-up four weeks after "done" (handlers/router.py joins every flow's steps).
STEPS: dict[str, Step] = {
    FOLLOWUP: Step(followup_prompt, choose_followup, take_followup_text, one_shot=True),
}
