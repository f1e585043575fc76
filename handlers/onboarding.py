"""Getting to know a resident: /start, their language and their municipality."""

from __future__ import annotations

from handlers import campaigns, initiatives, invites, place_search, roles, signatures
from handlers.context import Context, parse_language
from handlers.types import Button, Reply, Text, noted, say
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Municipality

# Steps of this module's flows.
LANGUAGE = "language"
REGION = "region"
DISTRICT = "district"  # a region's towns and districts
MUNICIPALITY = "municipality"  # a district's municipalities
PLACE_MATCHES = "place_matches"  # the places a typed name found

BACK = "back"
# A place button's value: what it chooses, then its key ("d:suzak"), or the page to show.
REGION_CHOICE, DISTRICT_CHOICE, PLACE_CHOICE, PAGE_CHOICE = "r", "d", "m", "p"
# Buttons a list shows at once (a district may have twenty village areas): the rest on pages.
PAGE_SIZE = 8
# Places a typed name offers as buttons, and in an SMS (one segment holds few names).
MATCHES_SHOWN = 6
MATCHES_IN_SMS = 3
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
    """/place, or /place 101 (SMS: ЖЕР 101) with a municipality's code or key, or its name:
    the places that name fits are offered (SMS: with their codes; one alone is taken)."""
    ctx.start_flow(then="place")
    if argument:
        municipality = await queries.municipality_by_key_or_code(ctx.session, argument)
        if municipality is not None:
            await ctx.settle(municipality)
            ctx.finish()
            return [say("place.set", place=municipality.name(ctx.language))]
        if not argument.isdigit():  # a name: look for it
            return await (search_place if ctx.guided else _place_by_name)(ctx, argument)
    problem = Text("place.unknown", {"value": argument[:40]}) if argument else None
    if not ctx.guided:
        ctx.finish()
        return [Reply(parts=(problem or Text("place.usage"),))]
    prompt = await ask_place(ctx)
    return [prompt.after(problem) if problem else prompt]


async def _place_by_name(ctx: Context, name: str) -> list[Reply]:
    """SMS: the one place a name fits is taken, or the one whose whole name it is when others
    only share a word; else the best few with their codes."""
    ctx.finish()
    found = place_search.ranked(await queries.all_municipalities(ctx.session), name)
    if not found:
        return [say("place.unknown", value=name[:40])]
    if len(found) == 1 or found[0][0] > max(found[1][0], place_search.WHOLE_WORDS):
        chosen = found[0][1]
        await ctx.settle(chosen)
        return [say("place.set", place=chosen.name(ctx.language))]
    listed = ", ".join(f"{m.code} {m.name(ctx.language)}" for _, m in found[:MATCHES_IN_SMS])
    return [say("place.choose_code", places=listed)]


async def choose_language(ctx: Context, value: str) -> bool:
    if value not in LANGUAGES:
        return False
    await ctx.set_language(value)
    return True


def language_set_note(ctx: Context) -> Text:
    return Text("language.set", {"language": LANGUAGE_NAMES[ctx.language]})


# --- place: region, then its towns and districts, then a district's municipalities ----------


async def region_prompt(ctx: Context) -> Reply:
    regions = await queries.regions_with_municipalities(ctx.session)
    buttons = [
        Button(region.name(ctx.language), ctx.payload(f"{REGION_CHOICE}:{region.key}"))
        for region in regions
    ]
    return Reply(parts=(Text("place.region_prompt"),), buttons=_rows(buttons, 2))


async def ask_place(ctx: Context) -> Reply:
    ctx.enter(REGION)
    return await region_prompt(ctx)


async def choose_place(ctx: Context, value: str) -> Municipality | list[Reply] | None:
    """A place button pressed: the municipality chosen (settled), the next list to choose
    from, or None for a value no longer there."""
    if value == BACK:
        return [await _back(ctx)]
    choice, _, key = value.partition(":")
    if choice == PAGE_CHOICE and key.isdigit() and ctx.step in (DISTRICT, MUNICIPALITY):
        ctx.enter(str(ctx.step), page=int(key))
        return [await (district_prompt if ctx.step == DISTRICT else municipality_prompt)(ctx)]
    if choice == PLACE_CHOICE:
        municipality = await queries.municipality_by_key(ctx.session, key)
        if municipality is not None:
            await ctx.settle(municipality)
        return municipality
    if choice == DISTRICT_CHOICE:
        district = await queries.district_by_key(ctx.session, key)
        if district is None:
            return None
        ctx.enter(MUNICIPALITY, district=district.key, page=0)
        return [await municipality_prompt(ctx)]
    if choice == REGION_CHOICE:
        return await _choose_region(ctx, key)
    return None


async def _choose_region(ctx: Context, key: str) -> Municipality | list[Reply] | None:
    region = await queries.region_by_key(ctx.session, key)
    if region is None:
        return None
    loose, districts = await queries.region_choices(ctx.session, region)
    if len(loose) == 1 and not districts:  # Bishkek, Osh: the city is the region
        await ctx.settle(loose[0])
        return loose[0]
    ctx.enter(DISTRICT, region=region.key, page=0)
    return [await district_prompt(ctx)]


async def _back(ctx: Context) -> Reply:
    """From a district's list to its region's; from anywhere else to the regions."""
    if ctx.step == MUNICIPALITY and ctx.data.get("region"):
        ctx.enter(DISTRICT, page=0)
        return await district_prompt(ctx)
    return await ask_place(ctx)


async def district_prompt(ctx: Context) -> Reply:
    region = await queries.region_by_key(ctx.session, str(ctx.data.get("region", "")))
    if region is None:  # the region was removed meanwhile: start the choice again
        return await ask_place(ctx)
    loose, districts = await queries.region_choices(ctx.session, region)
    buttons = [_place_button(ctx, m) for m in loose] + [
        Button(d.name(ctx.language), ctx.payload(f"{DISTRICT_CHOICE}:{d.key}")) for d in districts
    ]
    return Reply(
        parts=(Text("place.district_prompt", {"region": region.name(ctx.language)}),),
        buttons=_page(ctx, buttons),
    )


async def municipality_prompt(ctx: Context) -> Reply:
    district = await queries.district_by_key(ctx.session, str(ctx.data.get("district", "")))
    if district is None:  # removed meanwhile: back to its region's list
        return await _back(ctx)
    municipalities = await queries.municipalities_in_district(ctx.session, district)
    return Reply(
        parts=(Text("place.municipality_prompt", {"region": district.name(ctx.language)}),),
        buttons=_page(ctx, [_place_button(ctx, m) for m in municipalities]),
    )


# --- place: by a typed name -----------------------------------------------------------------


async def search_place(ctx: Context, text: str) -> list[Reply]:
    """A name typed where a place is asked: the places it fits, as buttons."""
    ctx.enter(PLACE_MATCHES, query=text.strip()[:40])
    return [await matches_prompt(ctx)]


async def matches_prompt(ctx: Context) -> Reply:
    query = str(ctx.data.get("query", ""))
    found = place_search.best_matches(
        await queries.all_municipalities(ctx.session), query, MATCHES_SHOWN
    )
    if not found:
        return (await ask_place(ctx)).after(Text("place.not_found", {"query": query}))
    buttons = [
        Button(
            f"{m.name(ctx.language)} ({m.region.name(ctx.language)})",
            ctx.payload(f"{PLACE_CHOICE}:{m.key}"),
        )
        for m in found
    ]
    back = Button(Text("button.back"), ctx.payload(BACK))
    return Reply(
        parts=(Text("place.matches", {"query": query}),),
        buttons=(*_rows(buttons, 1), (back,)),
    )


def _place_button(ctx: Context, municipality: Municipality) -> Button:
    return Button(
        municipality.name(ctx.language), ctx.payload(f"{PLACE_CHOICE}:{municipality.key}")
    )


def _page(ctx: Context, buttons: list[Button]) -> tuple[tuple[Button, ...], ...]:
    """One page of a long list, one button a row, then the way to the other pages and back."""
    pages = max(1, -(-len(buttons) // PAGE_SIZE))
    page = min(max(int(ctx.data.get("page", 0) or 0), 0), pages - 1)
    shown = buttons[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    turns = []
    if page > 0:
        turns.append(Button(Text("button.previous_page"), ctx.payload(f"{PAGE_CHOICE}:{page - 1}")))
    if page < pages - 1:
        turns.append(Button(Text("button.next_page"), ctx.payload(f"{PAGE_CHOICE}:{page + 1}")))
    back = Button(Text("button.back"), ctx.payload(BACK))
    return (*_rows(shown, 1), *((tuple(turns),) if turns else ()), (back,))


def _rows(buttons: list[Button], per_row: int) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))
