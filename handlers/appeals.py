"""A resident's appeal under the law on citizens' appeals (No. 67 of 2007): a wish to change
something made formal with the resident's full name and address, registered under a number,
and due to be answered in APPEAL_ANSWER_DAYS working days (handlers/working_days.py).

`/appeal` (SMS `ӨТҮНҮЧ` / `ОБРАЩЕНИЕ` / `APPEAL`) takes the resident's last wish, or the one
whose reference follows. The name and then the address are asked in private steps (nothing
said there is kept with a delivery) and sealed at rest under their own key; only that
municipality's staff open them (`identity`), never deputies, exports or public data. A wish
with no one behind it (a street card) stays a signal: it cannot become an appeal.

The clock is handlers/appeal_clock.py; an answer with a final status stops it
(handlers/answering.py); `extend` moves it once, with a reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import signers, validation
from handlers.context import Context
from handlers.dates import Day
from handlers.pseudonyms import Pseudonyms
from handlers.sealing import SealBroken, Sealer
from handlers.steps import Step
from handlers.types import Reply, Text, say
from handlers.working_days import add_working_days, working_days_between
from storage import queries
from storage.channels import REACHABLE
from storage.models import Appeal, Person, Wish
from storage.queries import appeals as appeal_rows
from storage.queries import audit

PURPOSE = "appeals-v1"  # the seal's own key: an appeal's seal opens with no other purpose's
NAME = "appeal_name"
ADDRESS = "appeal_address"
# The steps where the appellant types their name and address: private (handlers/router.py).
DETAILS = (NAME, ADDRESS)
DRAFT_LIFETIME = timedelta(hours=1)
REFERENCE_DIGITS_MAX = 16  # a wish's reference is digits only (storage/queries/common.py)
REASON_LIMIT = 120  # characters of an extension's reason: a sentence, in three SMS at most
EXTENDED_NOTICE = "appeal.extended_notice"  # to the resident


@dataclass(frozen=True)
class Rules:
    """The operator's settings the flow needs, set by the runtime at start
    (bot/runtime/app.py): handlers read no settings themselves."""

    answer_days: int = 14  # APPEAL_ANSWER_DAYS
    timezone: str = "Asia/Bishkek"  # TIMEZONE: the day an answer is given in


RULES = Rules()


def configure(rules: Rules) -> None:
    global RULES
    RULES = rules


@functools.lru_cache(maxsize=4)
def sealer_for(pseudonyms: Pseudonyms) -> Sealer:
    return Sealer(pseudonyms, PURPOSE)


def identity(appeal: Appeal, pseudonyms: Pseudonyms) -> dict[str, str]:
    """The appellant's name and address ({"name", "address"}), opened; empty after /forget.
    For that municipality's staff only: callers check the role."""
    if appeal.sealed is None:
        return {}
    return sealer_for(pseudonyms).open(appeal.sealed)


def local_day(moment: datetime) -> date:
    """The day `moment` falls on in TIMEZONE (the law counts days where the appeal is)."""
    return moment.astimezone(ZoneInfo(RULES.timezone)).date()


def due_date(registered_on: date) -> date:
    return add_working_days(registered_on, RULES.answer_days)


def working_days_late(due_on: date, today: date) -> int:
    """How late an appeal due on `due_on` is on `today`, in working days: 0 until its due
    day has passed, then at least 1 (on the weekend after a Friday due date no working day
    has passed yet, but it is late). What the inbox, console, digest and CLI all say."""
    if today <= due_on:
        return 0
    return max(1, working_days_between(due_on, today))


async def register(
    session: AsyncSession,
    wish: Wish,
    name: str,
    address: str,
    pseudonyms: Pseudonyms,
    today: date,
) -> tuple[Appeal, bool]:
    """Register the wish as an appeal numbered `<municipality code>-<year>-<n>` (short enough
    to type in an SMS), due in RULES.answer_days working days; (the appeal, whether it is
    new): a wish made an appeal meanwhile is the one it already was."""
    assert wish.municipality is not None
    sealed = sealer_for(pseudonyms).seal({"name": name, "address": address})
    return await appeal_rows.add_appeal(
        session,
        wish=wish,
        prefix=f"{wish.municipality.code}-{today.year}",
        sealed=sealed,
        registered_on=today,
        due_on=due_date(today),
    )


# --- /appeal and SMS ӨТҮНҮЧ ---------------------------------------------------------------


async def command(ctx: Context, argument: str) -> list[Reply]:
    """/appeal [REF]; SMS: ӨТҮНҮЧ [REF]. The resident's last wish to change something, or
    theirs with that reference."""
    ctx.finish()
    words = argument.split()
    reference = words[0] if words else ""
    if reference and not validation.small_number(reference, REFERENCE_DIGITS_MAX):
        # Not a reference ("ОБРАЩЕНИЕ: на улице нет света"): the words are a wish, kept and
        # asked about as any text with no keyword; never echoed (they may hold a name).
        return await _as_new_text(ctx, argument)
    if reference:
        wish = await queries.wish_by_reference(ctx.session, reference[:16])
        if wish is not None and wish.person_id is None:  # a card, or unlinked by /forget
            return [say("appeal.anonymous", reference=wish.reference)]
        if wish is None or wish.person_id != ctx.person.id:
            return [say("appeal.not_found", reference=reference.upper()[:16])]
    else:
        wish = await appeal_rows.last_change_wish(ctx.session, ctx.person.id)
        if wish is None:
            return [say("appeal.no_wish")]
    refused = await _refused(ctx, wish)
    if refused is not None:
        return [refused]
    ctx.start_draft(DRAFT_LIFETIME, wish=wish.id)
    ctx.enter(NAME)
    return [(await name_prompt(ctx)).after(Text("appeal.intro", {"reference": wish.reference}))]


async def _refused(ctx: Context, wish: Wish) -> Reply | None:
    """Why this wish cannot become an appeal now, if it cannot."""
    if wish.kind != "change":
        return say("appeal.change_only", reference=wish.reference)
    if wish.person_id is None or wish.entered_by is not None:
        return say("appeal.anonymous", reference=wish.reference)
    if wish.municipality_id is None:
        return say("appeal.place_first", reference=wish.reference)
    existing = await appeal_rows.appeal_of(ctx.session, wish.id)
    if existing is not None:
        return _already(ctx, existing)
    return None


def _already(ctx: Context, appeal: Appeal) -> Reply:
    return say(
        "appeal.already",
        reference=appeal.wish.reference,
        number=appeal.number,
        due=Day(appeal.due_on, ctx.language),
    )


async def _wish(ctx: Context) -> Wish | None:
    wish = await queries.wish_by_id(ctx.session, int(ctx.data.get("wish", 0)))
    return wish if wish is not None and wish.person_id == ctx.person.id else None


async def name_prompt(ctx: Context) -> Reply:
    return say("appeal.name_prompt")


async def take_name(ctx: Context, text: str) -> list[Reply]:
    if ctx.draft_expired:
        return await _as_new_text(ctx, text)
    name, problem = signers.parse_name(text)
    if problem is not None:  # asked again; the wish and the flow stay
        return [(await name_prompt(ctx)).after(problem)]
    ctx.remember(sealed=sealer_for(ctx.pseudonyms).seal({"name": name}))
    ctx.enter(ADDRESS)
    return [await address_prompt(ctx)]


async def address_prompt(ctx: Context) -> Reply:
    return say("appeal.address_prompt")


async def take_address(ctx: Context, text: str) -> list[Reply]:
    if ctx.draft_expired:
        return await _as_new_text(ctx, text)
    address, problem = signers.check_address(text)
    if problem is not None:
        return [(await address_prompt(ctx)).after(problem)]
    wish = await _wish(ctx)
    sealed = ctx.data.get("sealed")
    ctx.finish()
    if wish is None or not sealed:  # the wish went (/forget elsewhere): nothing to register
        return [say("appeal.no_wish")]
    refused = await _refused(ctx, wish)
    if refused is not None:
        return [refused]
    try:
        name = sealer_for(ctx.pseudonyms).open(str(sealed))["name"]
    except SealBroken:  # sealed under a key since dropped (not a rotation: it keeps the old)
        ctx.start_draft(DRAFT_LIFETIME, wish=wish.id)
        ctx.enter(NAME)
        return [await name_prompt(ctx)]
    appeal, new = await register(ctx.session, wish, name, address, ctx.pseudonyms, ctx.today)
    if not new:
        return [_already(ctx, appeal)]
    return [
        say(
            "appeal.registered",
            reference=wish.reference,
            number=appeal.number,
            days=RULES.answer_days,
            due=Day(appeal.due_on, ctx.language),
        )
    ]


async def _as_new_text(ctx: Context, text: str) -> list[Reply]:
    """The text handled as one sent outside any flow (handlers/router.py `_on_text`): by SMS
    kept and asked about, in a chat the start of a wish; nothing of it lost."""
    # Imported here: free_text imports wishes, which the router imports beside this module.
    from handlers import free_text, wishes

    ctx.finish()
    if not ctx.guided:
        return await free_text.keep(ctx, text)
    return await wishes.from_free_text(ctx, text)


# --- an extension, with its reason ----------------------------------------------------------


class NotExtendable(Exception):
    """Why an appeal's clock cannot be moved (a catalogue message for staff)."""

    def __init__(self, why: Text) -> None:
        super().__init__(why.key)
        self.why = why


async def extend(
    session: AsyncSession,
    appeal: Appeal,
    days: int,
    reason: str,
    staff: Person,
    today: date,
    via: str,
) -> Appeal:
    """Move the appeal's due date `days` working days later, with `reason` (told to the
    resident in a notice). The law allows it once, by at most the answer period itself, and
    before the period ends (docs/decisions.md): otherwise NotExtendable, nothing changed.
    The reminders are due again for the new date. The caller has checked that `staff` is
    staff of the appeal's municipality; `today` is in TIMEZONE; `via` the channel or the
    console, for the audit log (as every staff action: handlers/answering.py)."""
    reason = " ".join(reason.split())
    if appeal.answered_on is not None:
        raise NotExtendable(Text("appeal.extend_answered", {"number": appeal.number}))
    if appeal.extended_reason is not None:
        raise NotExtendable(Text("appeal.extend_once", {"number": appeal.number}))
    if today > appeal.due_on:
        raise NotExtendable(Text("appeal.extend_late", {"number": appeal.number}))
    if not 1 <= days <= RULES.answer_days:
        raise NotExtendable(Text("appeal.extend_days", {"most": RULES.answer_days}))
    if not reason:
        raise NotExtendable(Text("appeal.extend_reason_empty"))
    if len(reason) > REASON_LIMIT:
        raise NotExtendable(Text("error.too_long", {"limit": REASON_LIMIT, "length": len(reason)}))
    moved = add_working_days(appeal.due_on, days)
    if not await appeal_rows.extend(session, appeal.id, appeal.due_on, moved, reason):
        # Another staff member extended (or answered) it meanwhile: theirs stands.
        raise NotExtendable(Text("appeal.extend_once", {"number": appeal.number}))
    await session.refresh(appeal)
    await _tell_extended(session, appeal, staff)
    await audit.record(
        session, person_id=staff.id, municipality_id=appeal.municipality_id, via=via,
        action="extend", subject=appeal.wish.reference,
        detail={"days": days, "due": appeal.due_on.isoformat()},
    )  # fmt: skip
    return appeal


async def _tell_extended(session: AsyncSession, appeal: Appeal, staff: Person) -> None:
    # handlers/answering.ANSWERED_BY (which imports this module): the notifier tells the
    # staff member if it does not reach the resident.
    extra = {"reason": appeal.extended_reason or "", "answered_by": staff.id}
    await tell_resident(session, appeal, EXTENDED_NOTICE, extra)


async def tell_resident(
    session: AsyncSession, appeal: Appeal, key: str, extra: dict[str, object] | None = None
) -> None:
    """A notice to the appellant about their appeal (its number, wish and due date, and
    `extra`), if they can be told."""
    person = await resident_of(session, appeal.wish)
    if person is None:
        return
    values: dict[str, object] = {
        "number": appeal.number,
        "reference": appeal.wish.reference,
        "due": str(Day(appeal.due_on, person.language)),
        **(extra or {}),
    }
    await queries.add_notice(session, person.id, key, values)


async def resident_of(session: AsyncSession, wish: Wish) -> Person | None:
    """The appellant who can be told of their appeal (not after /forget, not in a browser)."""
    if wish.person_id is None or wish.channel not in REACHABLE:
        return None
    return await queries.person_by_id(session, wish.person_id)


# /appeal: the name, then the address; private, and answerable by one SMS each.
STEPS: dict[str, Step] = {
    NAME: Step(name_prompt, on_text=take_name, private=True, one_shot=True),
    ADDRESS: Step(address_prompt, on_text=take_address, private=True, one_shot=True),
}
