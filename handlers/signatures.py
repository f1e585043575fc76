"""Signing a citizens' initiative: /sign (or /start i-CODE) asks full name, PIN and address
and shows them back before signing; SMS signs in one message, КОЛ <code> <PIN> <full name>,
with the address in a second message when the initiative asks for one.

While a resident is signing, what they typed is kept sealed in their conversation, never in
the clear, and wiped with the draft after an hour. Nothing is stored as a signature until
they confirm. One PIN signs an initiative once: the same PIN and name again is "already
signed"; the same PIN under another name is kept as disputed, for the verification group.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from handlers import initiatives, signers
from handlers.context import Context
from handlers.initiatives import OPEN, state
from handlers.signers import Pin
from handlers.steps import Step
from handlers.types import Button, Reply, Text, say
from storage import queries
from storage.models import Initiative, utcnow

CHOOSE = "sign_choose"
INTRO = "sign_intro"
NAME = "sign_name"
PIN = "sign_pin"
SETTLEMENT = "sign_settlement"
STREET = "sign_street"
HOUSE = "sign_house"
CONFIRM = "sign_confirm"
SMS_ADDRESS = "sign_sms_address"  # the one step an SMS signer answers with a plain message
# The steps where a signer's name, PIN and address are typed or shown: private (router.py).
DETAILS = (NAME, PIN, SETTLEMENT, STREET, HOUSE, CONFIRM, SMS_ADDRESS)
ADDRESS_PARTS = ((SETTLEMENT, "settlement"), (STREET, "street"), (HOUSE, "house"))

DRAFT_LIFETIME = timedelta(hours=1)
ATTEMPTS_PER_HOUR = 10  # signings from one chat or phone, all initiatives together
SIGNATURES_PER_SENDER = 3  # per initiative: a household may share one phone
GO, CANCEL, SAVE, DISCARD = "go", "cancel", "save", "discard"
CODE = re.compile(r"^[A-Z][A-Z0-9_-]{1,31}$")
# Cyrillic letters typed for the Latin ones of a code on a Cyrillic keyboard.
_CODE_LOOK_ALIKES = str.maketrans("АВЕКМНОРСТУХ", "ABEKMHOPCTYX")
_PIN_PIECE = re.compile(r"^[0-9][0-9\-.]*$")


def normalise_code(text: str) -> str:
    return text.strip().upper().translate(_CODE_LOOK_ALIKES)


# --- /sign and /start i-CODE ------------------------------------------------------------------


async def sign(ctx: Context, argument: str) -> list[Reply]:
    """/sign [CODE]; SMS: КОЛ <code> <PIN> <full name>."""
    if not ctx.guided:
        return [await _sign_at_once(ctx, argument)]
    if argument:
        return [await open_by_code(ctx, argument)]
    available = await queries.open_initiatives(ctx.session, ctx.person.municipality_id, ctx.today)
    if not available:
        ctx.finish()
        return [say("sign.none_open")]
    if len(available) == 1:
        return [await _begin(ctx, available[0])]
    ctx.start_draft(DRAFT_LIFETIME)
    ctx.enter(CHOOSE)
    return [await choose_prompt(ctx)]


async def open_by_code(ctx: Context, code: str) -> Reply:
    initiative = await _by_code(ctx, code)
    if initiative is None:
        ctx.finish()
        return say("sign.unknown", code=code.strip()[:32])
    if state(initiative, ctx.today) != OPEN:
        ctx.finish()
        return initiatives.not_open(initiative, ctx)
    return await _begin(ctx, initiative)


async def _begin(ctx: Context, initiative: Initiative) -> Reply:
    ctx.start_draft(DRAFT_LIFETIME, initiative=initiative.code)
    ctx.enter(INTRO)
    return await intro_prompt(ctx)


async def _by_code(ctx: Context, code: str) -> Initiative | None:
    normalised = normalise_code(code)
    if not CODE.match(normalised):
        return None
    return await queries.initiative_by_code(ctx.session, normalised)


async def _current(ctx: Context) -> Initiative | None:
    """The initiative being signed, if it can still be signed."""
    initiative = await _by_code(ctx, str(ctx.data.get("initiative", "")))
    if initiative is None or state(initiative, ctx.today) != OPEN:
        return None
    return initiative


# --- the sealed draft -------------------------------------------------------------------------


def _draft(ctx: Context) -> dict[str, str]:
    sealed = ctx.data.get("sealed")
    return ctx.sealer.open(str(sealed)) if sealed else {}


def _keep(ctx: Context, **fields: str) -> None:
    ctx.remember(sealed=ctx.sealer.seal({**_draft(ctx), **fields}))


# --- the guided steps -------------------------------------------------------------------------


async def choose_prompt(ctx: Context) -> Reply:
    available = await queries.open_initiatives(ctx.session, ctx.person.municipality_id, ctx.today)
    buttons = tuple((Button(i.title(ctx.language)[:60], ctx.payload(i.code)),) for i in available)
    return Reply(parts=(Text("sign.choose_prompt"),), buttons=buttons)


async def choose_initiative(ctx: Context, value: str) -> list[Reply] | None:
    initiative = await _by_code(ctx, value)
    if initiative is None:
        return None
    if state(initiative, ctx.today) != OPEN:
        ctx.finish()
        return [initiatives.not_open(initiative, ctx)]
    return [await _begin(ctx, initiative)]


async def intro_prompt(ctx: Context) -> Reply:
    initiative = await _current(ctx)
    if initiative is None:
        return await _gone(ctx)
    language, summary = ctx.language, initiative.summary(ctx.language)
    parts = [Text("sign.card", {"title": initiative.title(language), "code": initiative.code})]
    if summary:
        parts.append(Text("sign.summary", {"summary": summary}))
    if initiative.url:
        parts.append(Text("sign.full_text", {"url": initiative.url}))
    parts.append(initiatives.progress(initiative, ctx))
    buttons = (
        (Button(Text("button.sign"), ctx.payload(GO)),),
        (Button(Text("button.not_now"), ctx.payload(CANCEL)),),
    )
    return Reply(parts=tuple(parts), buttons=buttons)


async def choose_intro(ctx: Context, value: str) -> list[Reply] | None:
    if value == CANCEL:
        ctx.finish()
        return [say("sign.discarded")]
    if value != GO:
        return None
    return await continue_signing(ctx)


async def continue_signing(ctx: Context, *notes: Text) -> list[Reply]:
    """Ask for the next thing missing, or show everything back for confirmation."""
    initiative = await _current(ctx)
    if initiative is None:
        return [await _gone(ctx)]
    draft = _draft(ctx)
    wanted = [(NAME, "name"), (PIN, "pin")]
    if initiative.requires_address:
        wanted += ADDRESS_PARTS
    for step, field in wanted:
        if field not in draft:
            ctx.enter(step)
            return [(await PROMPTS[step](ctx)).after(*notes)]
    ctx.enter(CONFIRM)
    return [(await confirm_prompt(ctx)).after(*notes)]


async def _gone(ctx: Context) -> Reply:
    """The initiative closed (or was removed) while the resident was signing."""
    initiative = await _by_code(ctx, str(ctx.data.get("initiative", "")))
    ctx.finish()
    return initiatives.not_open(initiative, ctx) if initiative else say("sign.discarded")


async def name_prompt(ctx: Context) -> Reply:
    return say("sign.name_prompt")


async def take_name(ctx: Context, text: str) -> list[Reply]:
    name, problem = signers.parse_name(text)
    if problem is not None:
        return [(await name_prompt(ctx)).after(problem)]
    _keep(ctx, name=name)
    return await continue_signing(ctx)


async def pin_prompt(ctx: Context) -> Reply:
    return say("sign.pin_prompt")


async def take_pin(ctx: Context, text: str) -> list[Reply]:
    pin, problem = signers.check_pin(text, ctx.today)
    if pin is None:
        return [(await pin_prompt(ctx)).after(*(problem,) if problem else ())]
    _keep(ctx, pin=pin.digits, pin_note="odd_date" if pin.odd_date else "")
    return await continue_signing(ctx, *_pin_warnings(pin))


def _pin_warnings(pin: Pin) -> tuple[Text, ...]:
    return (Text("pin.odd_date"),) if pin.odd_date else ()


async def settlement_prompt(ctx: Context) -> Reply:
    return say("sign.settlement_prompt")


async def street_prompt(ctx: Context) -> Reply:
    return say("sign.street_prompt")


async def house_prompt(ctx: Context) -> Reply:
    return say("sign.house_prompt")


async def take_address_part(ctx: Context, text: str) -> list[Reply]:
    field = dict(ADDRESS_PARTS)[str(ctx.step)]
    part, problem = signers.check_address_part(text)
    if problem is not None:
        return [(await PROMPTS[str(ctx.step)](ctx)).after(problem)]
    _keep(ctx, **{field: part})
    return await continue_signing(ctx)


def _address(draft: dict[str, str]) -> str:
    if "address" in draft:
        return draft["address"]
    return ", ".join(draft[field] for _, field in ADDRESS_PARTS if draft.get(field))


async def confirm_prompt(ctx: Context) -> Reply:
    initiative = await _current(ctx)
    if initiative is None:
        return await _gone(ctx)
    ctx.private = True  # the answer shows name, PIN and address: never kept in the clear
    draft = _draft(ctx)
    parts = [
        Text(
            "sign.confirm",
            {"title": initiative.title(ctx.language), "name": draft["name"], "pin": draft["pin"]},
        )
    ]
    if initiative.requires_address:
        parts.append(Text("sign.confirm_address", {"address": _address(draft)}))
    parts.append(Text("sign.confirm_question"))
    buttons = (
        (Button(Text("button.sign"), ctx.payload(SAVE)),),
        (Button(Text("button.discard"), ctx.payload(DISCARD)),),
    )
    return Reply(parts=tuple(parts), buttons=buttons)


async def choose_confirm(ctx: Context, value: str) -> list[Reply] | None:
    if value == DISCARD:
        ctx.finish()
        return [say("sign.discarded")]
    if value != SAVE:
        return None
    initiative = await _current(ctx)
    if initiative is None:
        return [await _gone(ctx)]
    draft = _draft(ctx)
    return [await _sign(ctx, initiative, draft)]


# --- SMS: one message, and the address in a second one if needed ------------------------------


async def _sign_at_once(ctx: Context, argument: str) -> Reply:
    code, initiative, pin_text, name_text = await _split_sms(ctx, argument)
    if not code or not pin_text or not name_text:
        return _refuse(ctx, "usage", say("sign.usage"))
    if initiative is None:
        return _refuse(ctx, "unknown", say("sign.unknown", code=code[:32]))
    if state(initiative, ctx.today) != OPEN:
        return _refuse(ctx, "not_open", initiatives.not_open(initiative, ctx))
    pin, problem = signers.check_pin(pin_text, ctx.today)
    if pin is None:
        return _refuse(ctx, "pin", Reply(parts=(problem or Text("sign.usage"),)))
    name, problem = signers.parse_name(name_text)
    if problem is not None:
        return _refuse(ctx, "name", Reply(parts=(problem,)))
    draft = {"name": name, "pin": pin.digits, "pin_note": "odd_date" if pin.odd_date else ""}
    if not initiative.requires_address:
        return (await _sign(ctx, initiative, draft)).after(*_pin_warnings(pin))
    if await _signed_before(ctx, initiative, pin.digits, name):  # before asking the address
        return _refuse(ctx, "already", say("sign.already", title=initiative.title(ctx.language)))
    ctx.start_draft(DRAFT_LIFETIME, initiative=initiative.code)
    _keep(ctx, **draft)
    ctx.enter(SMS_ADDRESS)
    return (await sms_address_prompt(ctx)).after(*_pin_warnings(pin))


async def _split_sms(ctx: Context, argument: str) -> tuple[str, Initiative | None, str, str]:
    """(code, its initiative, PIN, name) from the words after КОЛ, in whatever order they
    came: the PIN is the run of digit groups, the code the word that names an initiative
    (else the first other word), the rest the name."""
    words = argument.split()
    pin_words = _first_run([i for i, word in enumerate(words) if _PIN_PIECE.match(word)])
    rest = [word for i, word in enumerate(words) if i not in pin_words]
    code_at, initiative = 0, None
    for index, word in enumerate(rest):
        initiative = await _by_code(ctx, word)
        if initiative is not None:
            code_at = index
            break
    code = rest[code_at] if rest else ""
    name = " ".join(rest[:code_at] + rest[code_at + 1 :])
    return code, initiative, "".join(words[i] for i in pin_words), name


def _first_run(indexes: list[int]) -> set[int]:
    run: list[int] = []
    for index in indexes:
        if run and index != run[-1] + 1:
            break
        run.append(index)
    return set(run)


async def sms_address_prompt(ctx: Context) -> Reply:
    return say("sign.address_prompt")


async def take_sms_address(ctx: Context, text: str) -> list[Reply]:
    address, problem = signers.check_address(text)
    if problem is not None:
        return [(await sms_address_prompt(ctx)).after(problem)]
    initiative = await _current(ctx)
    if initiative is None:
        return [await _gone(ctx)]
    return [await _sign(ctx, initiative, {**_draft(ctx), "address": address})]


# --- signing ----------------------------------------------------------------------------------


async def _sign(ctx: Context, initiative: Initiative, draft: dict[str, str]) -> Reply:
    """Store the signature (the draft goes, whatever the answer)."""
    ctx.finish()
    hour = utcnow().strftime("%Y-%m-%dT%H")
    if not await _within(ctx, "sign-burst", hour, ATTEMPTS_PER_HOUR, utcnow() + timedelta(hours=2)):
        return _refuse(ctx, "flood", say("sign.flood"))
    pin, name = draft["pin"], draft["name"]
    address = _address(draft) if initiative.requires_address else ""
    pin_keys = signers.pin_keys(ctx.pseudonyms, initiative.code, pin)
    signer_keys = signers.signer_keys(ctx.pseudonyms, initiative.code, pin, name)
    for _attempt in range(2):  # once more if another worker counted this PIN meanwhile
        standing = await queries.signer_keys_by_pin(ctx.session, initiative.id, pin_keys)
        if any(signer_key in signer_keys for signer_key in standing):
            title = initiative.title(ctx.language)
            return _refuse(ctx, "already", say("sign.already", title=title))
        if not await _within(
            ctx, "sign-sender", initiative.code, SIGNATURES_PER_SENDER, _until_closed(initiative)
        ):
            limit = say("sign.sender_limit", limit=SIGNATURES_PER_SENDER)
            return _refuse(ctx, "sender_limit", limit)
        status = "disputed" if standing else "counted"
        added = await queries.add_signature(
            ctx.session,
            {
                "initiative_id": initiative.id,
                "pin_key": pin_keys[0],
                "signer_key": signer_keys[0],
                "status": status,
                "sealed": ctx.sealer.seal({"name": name, "pin": pin, "address": address}),
                "pin_note": draft.get("pin_note") or None,
                "channel": ctx.inbound.channel,
                "signed_on": ctx.today,
                "person_id": ctx.person.id,
            },
        )
        if not added:  # counted meanwhile by another worker: look again
            continue
        if status == "disputed":
            return say("sign.disputed")
        count = await queries.count_signature(ctx.session, initiative.id)
        await initiatives.after_counted(ctx, initiative, count)
        return say("sign.done", count=count, threshold=initiative.threshold)
    return say("sign.disputed")


async def _signed_before(ctx: Context, initiative: Initiative, pin: str, name: str) -> bool:
    """Whether this person (PIN and name) already has a standing signature to it."""
    signer_keys = signers.signer_keys(ctx.pseudonyms, initiative.code, pin, name)
    pin_keys = signers.pin_keys(ctx.pseudonyms, initiative.code, pin)
    standing = await queries.signer_keys_by_pin(ctx.session, initiative.id, pin_keys)
    return any(signer_key in signer_keys for signer_key in standing)


def _refuse(ctx: Context, reason: str, reply: Reply) -> Reply:
    """A signature not taken: the reply says why; the channel counts the reason."""
    ctx.refusal = reason
    return reply


async def _within(ctx: Context, purpose: str, scope: str, limit: int, expires: datetime) -> bool:
    """Count one more under a keyed hash of this sender and scope; False at the limit."""
    key = ctx.pseudonyms.of(purpose, ctx.inbound.channel, ctx.inbound.user_id, scope)
    return await queries.count_towards_quota(ctx.session, key, limit, expires)


def _until_closed(initiative: Initiative) -> datetime:
    last: date = initiative.closes_on + timedelta(days=2)
    return datetime(last.year, last.month, last.day, tzinfo=utcnow().tzinfo)


PROMPTS = {
    NAME: name_prompt,
    PIN: pin_prompt,
    SETTLEMENT: settlement_prompt,
    STREET: street_prompt,
    HOUSE: house_prompt,
}


# /sign, and by SMS the address (handlers/router.py joins every flow's steps).
STEPS: dict[str, Step] = {
    CHOOSE: Step(choose_prompt, choose_initiative),
    INTRO: Step(intro_prompt, choose_intro),
    # Private: what the signer types here (name, PIN, address) is neither kept with the
    # delivery nor carried by a channel for later (the web chat's page), §8.
    NAME: Step(name_prompt, on_text=take_name, private=True),
    PIN: Step(pin_prompt, on_text=take_pin, private=True),
    SETTLEMENT: Step(settlement_prompt, on_text=take_address_part, private=True),
    STREET: Step(street_prompt, on_text=take_address_part, private=True),
    HOUSE: Step(house_prompt, on_text=take_address_part, private=True),
    CONFIRM: Step(confirm_prompt, choose_confirm, private=True),
    SMS_ADDRESS: Step(sms_address_prompt, on_text=take_sms_address, one_shot=True, private=True),
}
