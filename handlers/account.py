"""A resident's own account: help, privacy, what we hold (/mydata), /forget, /cancel."""

from __future__ import annotations

from datetime import timedelta

from handlers import poll_profile, roles
from handlers.context import Context
from handlers.onboarding import LANGUAGE_NAMES
from handlers.steps import Step
from handlers.types import Button, Reply, Text, say
from storage import queries
from storage.models import utcnow
from storage.queries import appeals as appeal_rows

FORGET = "forget"
YES, NO = "yes", "no"
STILL_OUT_EXPIRY = timedelta(days=2)  # the quota row saying today's notice went


async def help_text(ctx: Context, argument: str = "") -> Reply:
    """/help; /help bribe (SMS: ЖАРДАМ ПАРА) lists the service codes for reports, /help
    change (SMS: ЖАРДАМ ӨЗГӨРТ) the topic codes for wishes, and /help sign (SMS: ЖАРДАМ КОЛ)
    how to sign by SMS."""
    if argument == "bribe":
        return say("bribe.codes")
    if argument in ("change", "great"):
        return say("wish.codes")
    if argument == "sign":
        return say("sign.usage")
    return Reply(parts=(*await roles.help_parts(ctx), Text("help.text")))


async def privacy(ctx: Context, _argument: str = "") -> Reply:
    return say("privacy.text")


async def my_data(ctx: Context, _argument: str = "") -> Reply:
    person = ctx.person
    place: Text | str = (
        person.municipality.name(ctx.language) if person.municipality else Text("mydata.no_place")
    )
    held = say(
        "mydata.text",
        channel=Text(f"channel.{person.channel}"),
        language=LANGUAGE_NAMES[person.language],
        place=place,
        wishes=await queries.count_wishes_of(ctx.session, person),
        since=person.created_at.date().isoformat(),
    )
    appealed = await appeal_rows.count_sealed_of(ctx.session, person.id)
    sealed = [Text("appeal.mydata", {"count": appealed})] if appealed else []
    return Reply(parts=(*held.parts, *sealed, *await poll_profile.my_data(ctx)))


async def cancel(ctx: Context, _argument: str) -> list[Reply]:
    if ctx.step is None:
        return [say("cancel.nothing")]
    ctx.finish()
    return [say("cancel.done")]


async def forget(ctx: Context, _argument: str) -> list[Reply]:
    """/forget asks first, because it cannot be undone; the SMS keyword is the answer."""
    if not ctx.guided:
        return await _erase(ctx)
    ctx.start_flow()
    ctx.enter(FORGET)
    return [await forget_prompt(ctx)]


async def stop(ctx: Context, _argument: str) -> list[Reply]:
    """SMS STOP/СТОП: nothing more is sent until START."""
    await queries.change_person(ctx.session, ctx.person, opted_out=True)
    ctx.finish()
    return [say("stop.done")]


async def while_opted_out(ctx: Context) -> list[Reply]:
    """What a sender who texted STOP is told when they write again (what they sent is still
    handled: a wish is kept): once a day, that nothing is answered and how to come back;
    otherwise nothing. Never silence alone, which reads as a message lost."""
    sender = (ctx.inbound.channel, ctx.inbound.user_id, ctx.today.isoformat())
    key = ctx.pseudonyms.of("opted-out-notice", *sender)
    if await queries.count_towards_quota(ctx.session, key, 1, utcnow() + STILL_OUT_EXPIRY):
        return [say("stop.still")]
    return []


async def resume(ctx: Context, _argument: str) -> list[Reply]:
    """SMS START/СТАРТ."""
    await queries.change_person(ctx.session, ctx.person, opted_out=False)
    return [say("resume.done")]


async def forget_prompt(ctx: Context) -> Reply:
    return Reply(
        parts=(Text("forget.prompt"),),
        buttons=(
            (Button(Text("forget.yes"), ctx.payload(YES)),),
            (Button(Text("forget.no"), ctx.payload(NO)),),
        ),
    )


async def choose_forget(ctx: Context, value: str) -> list[Reply] | None:
    if value == NO:
        ctx.finish()
        return [say("forget.kept")]
    if value != YES:
        return None
    return await _erase(ctx)


async def _erase(ctx: Context) -> list[Reply]:
    # Signatures to initiatives still collecting are withdrawn, their data erased.
    await queries.withdraw_signatures(ctx.session, ctx.person, ctx.today)
    # Their photos and places go too (a photo can show who took it); the files are deleted
    # once this commits.
    ctx.discarded_files += await queries.forget_photos(ctx.session, ctx.person.id)
    await poll_profile.forget(ctx)  # their poll answers stay counted, linked to nothing
    # Their appeals' names and addresses go; the appeals stay on the clock, unlinked.
    await appeal_rows.unseal_appeals_of(ctx.session, ctx.person.id)
    await queries.forget_person(ctx.session, ctx.person)
    ctx.forgotten = True
    return [say("forget.done")]


# /forget's step: are you sure (handlers/router.py joins every flow's steps).
STEPS: dict[str, Step] = {
    FORGET: Step(forget_prompt, choose_forget),
}
