"""Getting to know a resident: /start, their language and their municipality."""

from __future__ import annotations

from handlers import campaigns, initiatives, invites, roles, signatures
from handlers.context import Context, parse_language
from handlers.types import Button, Reply, Text, noted, say
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Municipality

# Steps of this module's flows.
LANGUAGE = "language"
REGION = "region"
MUNICIPALITY = "municipality"

BACK = "back"
# Each language's own name: shown as is, whatever the resident's language.
LANGUAGE_NAMES = {"ky": "Кыргызча", "ru": "Русский", "en": "English"}
MUNICIPALITY_LINK_PREFIX = "m-"


# --- /start -------------------------------------------------------------------------------


async def start(ctx: Context, argument: str) -> list[Reply]:
    """/start, possibly from a deep link: m-KEY picks the place, c-CODE comes through a
    street campaign, i-CODE opens an initiative for signing, inv-CODE redeems an invite."""
    if argument.startswith(initiatives.LINK_PREFIX):
        return [await signatures.open_by_code(ctx, argument.removeprefix(initiatives.LINK_PREFIX))]
    notes: list[Text] = [Text("start.welcome")]
    if argument.startswith(invites.LINK_PREFIX):
        notes = [await invites.redeem(ctx, argument.removeprefix(invites.LINK_PREFIX))]
    elif argument.startswith(campaigns.LINK_PREFIX):
        notes += await campaigns.join(ctx, argument.removeprefix(campaigns.LINK_PREFIX))
    elif argument.startswith(MUNICIPALITY_LINK_PREFIX):
        municipality = await queries.municipality_by_key(
            ctx.session, argument.removeprefix(MUNICIPALITY_LINK_PREFIX)
        )
        if municipality is None:
            # Say "choose from the list" only if a list follows.
            has_place = ctx.person.municipality is not None
            notes.append(Text("start.unknown_link" if has_place else "place.unknown_link"))
        else:
            await ctx.settle(municipality)
            notes.append(Text("place.set", {"place": municipality.name(ctx.language)}))
    elif argument:
        notes.append(Text("start.unknown_link"))

    ctx.start_flow(then="start")
    if not ctx.person.language_confirmed:
        return [(await ask_language(ctx)).after(*notes)]
    return noted(await continue_start(ctx), *notes)


async def continue_start(ctx: Context) -> list[Reply]:
    if ctx.person.municipality is None:
        return [await ask_place(ctx)]
    ctx.finish()
    return [await roles.ready(ctx)]


# --- language -----------------------------------------------------------------------------


async def language_prompt(ctx: Context) -> Reply:
    buttons = tuple(Button(LANGUAGE_NAMES[code], ctx.payload(code)) for code in LANGUAGES)
    return Reply(
        parts=(Text("language.prompt", {"language": LANGUAGE_NAMES[ctx.language]}),),
        buttons=(buttons,),
    )


async def ask_language(ctx: Context) -> Reply:
    ctx.enter(LANGUAGE)
    return await language_prompt(ctx)


async def language(ctx: Context, argument: str) -> list[Reply]:
    """/language, or /language ru (SMS: ТИЛ ru)."""
    ctx.start_flow(then="language")
    if argument:
        code = parse_language(argument)
        if code is not None:
            await ctx.set_language(code)
            ctx.finish()
            return [Reply(parts=(language_set_note(ctx),))]
    if not ctx.guided:
        ctx.finish()
        return [say("language.unknown")]
    prompt = await ask_language(ctx)
    return [prompt.after(Text("language.unknown")) if argument else prompt]


async def place(ctx: Context, argument: str) -> list[Reply]:
    """/place, or /place 101 (SMS: ЖЕР 101) with a municipality's code or key."""
    ctx.start_flow(then="place")
    if argument:
        municipality = await queries.municipality_by_key_or_code(ctx.session, argument)
        if municipality is not None:
            await ctx.settle(municipality)
            ctx.finish()
            return [say("place.set", place=municipality.name(ctx.language))]
    problem = Text("place.unknown", {"value": argument[:40]}) if argument else None
    if not ctx.guided:
        ctx.finish()
        return [Reply(parts=(problem or Text("place.usage"),))]
    prompt = await ask_place(ctx)
    return [prompt.after(problem) if problem else prompt]


async def choose_language(ctx: Context, value: str) -> bool:
    if value not in LANGUAGES:
        return False
    await ctx.set_language(value)
    return True


def language_set_note(ctx: Context) -> Text:
    return Text("language.set", {"language": LANGUAGE_NAMES[ctx.language]})


# --- place: region, then municipality -------------------------------------------------------


async def region_prompt(ctx: Context) -> Reply:
    regions = await queries.regions_with_municipalities(ctx.session)
    buttons = [Button(region.name(ctx.language), ctx.payload(region.key)) for region in regions]
    return Reply(parts=(Text("place.region_prompt"),), buttons=_rows(buttons, 2))


async def ask_place(ctx: Context) -> Reply:
    ctx.enter(REGION)
    return await region_prompt(ctx)


async def choose_region(ctx: Context, value: str) -> list[Reply] | None:
    region = await queries.region_by_key(ctx.session, value)
    if region is None:
        return None
    ctx.enter(MUNICIPALITY, region=region.key)
    return [await municipality_prompt(ctx)]


async def municipality_prompt(ctx: Context) -> Reply:
    region = await queries.region_by_key(ctx.session, str(ctx.data.get("region", "")))
    if region is None:  # the region was removed meanwhile: start the choice again
        return await ask_place(ctx)
    municipalities = await queries.municipalities_in(ctx.session, region)
    buttons = [Button(m.name(ctx.language), ctx.payload(m.key)) for m in municipalities]
    back = Button(Text("button.back"), ctx.payload(BACK))
    return Reply(
        parts=(Text("place.municipality_prompt", {"region": region.name(ctx.language)}),),
        buttons=(*_rows(buttons, 1), (back,)),
    )


async def choose_municipality(ctx: Context, value: str) -> Municipality | None:
    municipality = await queries.municipality_by_key(ctx.session, value)
    if municipality is not None:
        await ctx.settle(municipality)
    return municipality


def _rows(buttons: list[Button], per_row: int) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))
