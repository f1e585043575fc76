"""What a resident may say at the end of a poll, never required: their village, then once
ever an age band and a gender, each skippable. Kept on the person and copied into their
answers (so results can say who was heard: every village, women, each age), shown by
/mydata, gone with /forget.

Which question comes next is read from the person alone, so nothing else records that
they were asked: `age_band` is None until the village question is behind them (answered
or skipped), PENDING while the age one waits, SKIPPED once skipped; `gender` is None until
answered or SKIPPED. A skipped question is not asked again; one left unanswered is asked
after the next poll answer. Only real values go into answers (never the markers, nor
"prefer not to say").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers import ballots
from handlers.context import Context
from handlers.steps import Step
from handlers.types import Button, Reply, Text, in_rows, say
from storage import queries
from storage.models import Village, utcnow
from storage.queries import polls as poll_queries

VILLAGE, AGE, GENDER = "poll_village", "poll_age", "poll_gender"  # the steps
PENDING, SKIPPED = "?", "-"
SKIP = "0"  # by SMS, and the skip button's value
# Age bands and genders as stored, with their labels.
AGE_BANDS = {
    "0-17": "poll.age_0_17",
    "18-29": "poll.age_18_29",
    "30-44": "poll.age_30_44",
    "45-59": "poll.age_45_59",
    "60+": "poll.age_60",
}
GENDERS = {"f": "poll.gender_f", "m": "poll.gender_m", "x": "poll.gender_x"}
SAID_GENDERS = ("f", "m")  # what goes into answers: "x" is not a gender to count
# A question nobody answers lets go of the number: a later one answers polls again.
LIFETIME = timedelta(days=1)


def age_of(ctx: Context) -> str | None:
    band = ctx.person.age_band
    return band if band in AGE_BANDS else None


def gender_of(ctx: Context) -> str | None:
    gender = ctx.person.gender
    return gender if gender in SAID_GENDERS else None


async def village_of(ctx: Context, municipality_id: int) -> int | None:
    """The person's village if it is one of this municipality's (they may have moved)."""
    villages = await _villages(ctx, municipality_id)
    return ctx.person.village_id if any(v.id == ctx.person.village_id for v in villages) else None


async def next_question(ctx: Context, municipality_id: int) -> Reply | None:
    """Ask the next question not yet behind the person, if any (it becomes their step)."""
    person = ctx.person
    step = None
    if person.age_band is None:
        if await _villages(ctx, municipality_id) and await village_of(ctx, municipality_id) is None:
            step = VILLAGE
        else:
            await queries.change_person(ctx.session, person, age_band=PENDING)
    if step is None and person.age_band == PENDING:
        step = AGE
    elif step is None and person.gender is None:
        step = GENDER
    if step is None:
        return None
    ctx.start_flow(municipality=municipality_id, asked=utcnow().isoformat())
    ctx.enter(step)
    return await STEPS[step].prompt(ctx)


# --- the questions ------------------------------------------------------------------------


async def village_prompt(ctx: Context) -> Reply:
    villages = await _villages(ctx, int(ctx.data.get("municipality", 0)))
    if not ctx.guided:
        listed = ", ".join(f"{v.position} {v.name(ctx.language)}" for v in villages)
        return say("poll.ask_village_by_number", villages=listed)
    buttons = [Button(v.name(ctx.language), ctx.payload(str(v.position))) for v in villages]
    return _with_skip(ctx, Text("poll.ask_village"), in_rows(buttons))


async def age_prompt(ctx: Context) -> Reply:
    labels = enumerate(AGE_BANDS.values(), 1)
    buttons = [Button(Text(key), ctx.payload(str(n))) for n, key in labels]
    return _with_skip(ctx, Text("poll.ask_age"), in_rows(buttons, 3))


async def gender_prompt(ctx: Context) -> Reply:
    labels = enumerate(GENDERS.values(), 1)
    buttons = [Button(Text(key), ctx.payload(str(n))) for n, key in labels]
    return _with_skip(ctx, Text("poll.ask_gender"), in_rows(buttons, 2))


def _with_skip(ctx: Context, question: Text, rows: tuple[tuple[Button, ...], ...]) -> Reply:
    if not ctx.guided:
        return Reply(parts=(question,))
    skip = (Button(Text("poll.skip"), ctx.payload(SKIP)),)
    return Reply(parts=(question,), buttons=(*rows, skip))


async def choose_village(ctx: Context, value: str) -> list[Reply] | None:
    municipality_id = int(ctx.data.get("municipality", 0))
    villages = {str(v.position): v for v in await _villages(ctx, municipality_id)}
    if value != SKIP and value not in villages:
        return None
    if value != SKIP:
        await _describe(ctx, municipality_id, village_id=villages[value].id)
    await queries.change_person(ctx.session, ctx.person, age_band=PENDING)
    return await _next(ctx, municipality_id)


async def choose_age(ctx: Context, value: str) -> list[Reply] | None:
    return await _choose(ctx, value, tuple(AGE_BANDS), "age_band")


async def choose_gender(ctx: Context, value: str) -> list[Reply] | None:
    return await _choose(ctx, value, tuple(GENDERS), "gender")


async def _choose(
    ctx: Context, value: str, stored: tuple[str, ...], field: str
) -> list[Reply] | None:
    number = ballots.number(value)
    if value == SKIP:
        chosen = SKIPPED
    elif number is not None and 1 <= number <= len(stored):
        chosen = stored[number - 1]
    else:
        return None
    municipality_id = int(ctx.data.get("municipality", 0))
    await queries.change_person(ctx.session, ctx.person, **{field: chosen})
    if chosen in (*AGE_BANDS, *SAID_GENDERS):
        await _describe(ctx, municipality_id, **{field: chosen})
    return await _next(ctx, municipality_id)


async def _next(ctx: Context, municipality_id: int) -> list[Reply]:
    ctx.finish()
    following = await next_question(ctx, municipality_id)
    return [following] if following is not None else [say("poll.profile_thanks")]


async def take_number(ctx: Context, text: str) -> list[Reply] | None:
    """By SMS the answer is a number (0 skips); None when the text is not one, or the
    question has expired (the text is then handled as itself)."""
    if _expired(ctx):
        ctx.finish()
        return None
    number = ballots.number(text.strip().rstrip(".!)"))
    if number is None:
        return None
    step = STEPS[ctx.step or ""]
    assert step.on_choice is not None
    replies = await step.on_choice(ctx, str(number))
    if replies is None:
        return [(await step.prompt(ctx)).after(Text("poll.profile_how"))]
    return replies


def asked_at(ctx: Context) -> datetime | None:
    asked = ctx.data.get("asked")
    return datetime.fromisoformat(str(asked)) if asked else None


def _expired(ctx: Context) -> bool:
    asked = asked_at(ctx)
    return asked is None or asked + LIFETIME < utcnow()


# --- kept on the person, copied into answers ---------------------------------------------


async def _describe(ctx: Context, municipality_id: int, **fields: object) -> None:
    """Keep a value on the person and copy it into their answers to the polls open now in
    their municipality (the one just given among them)."""
    await queries.change_person(ctx.session, ctx.person, **fields)
    now = utcnow()
    keys = {
        poll.id: ballots.voter_keys(ctx.pseudonyms, poll.id, ctx.person.id)
        for poll in await queries.answering_polls(ctx.session, municipality_id, now)
    }
    await poll_queries.describe_voter(ctx.session, keys, **fields)


async def _villages(ctx: Context, municipality_id: int) -> list[Village]:
    cached = ctx.cache.get(f"villages:{municipality_id}")
    if cached is None:
        cached = list(await queries.villages_of(ctx.session, municipality_id))
        ctx.cache[f"villages:{municipality_id}"] = cached
    assert isinstance(cached, list)
    return cached


async def my_data(ctx: Context) -> tuple[Text, ...]:
    """/mydata's line: what they said at a poll's end, if they said anything."""
    person = ctx.person
    if person.village_id is None and age_of(ctx) is None and person.gender in (None, SKIPPED):
        return ()
    village: Text | str = Text("poll.not_said")
    if person.village_id is not None:
        found = await poll_queries.village_by_id(ctx.session, person.village_id)
        village = found.name(ctx.language) if found is not None else village
    age = age_of(ctx)
    gender = person.gender if person.gender in GENDERS else None
    return (
        Text(
            "poll.my_data",
            {
                "village": village,
                "age": Text(AGE_BANDS[age]) if age else Text("poll.not_said"),
                "gender": Text(GENDERS[gender]) if gender else Text("poll.not_said"),
            },
        ),
    )


async def forget(ctx: Context) -> None:
    """/forget: their answers stay counted, linked to nothing (storage/queries/polls.py)."""
    keys = [
        key
        for poll_id in await poll_queries.poll_ids(ctx.session)
        for key in ballots.voter_keys(ctx.pseudonyms, poll_id, ctx.person.id)
    ]
    await poll_queries.unlink_answers(ctx.session, keys)


# The questions at a poll's end; their SMS answers (numbers) are handled by handlers/polls.py,
# which first lets a poll sent since then take the number.
# Private: what is answered to them is not kept with the delivery (ARCHITECTURE.md §8).
STEPS: dict[str, Step] = {
    VILLAGE: Step(village_prompt, choose_village, private=True, one_shot=True),
    AGE: Step(age_prompt, choose_age, private=True, one_shot=True),
    GENDER: Step(gender_prompt, choose_gender, private=True, one_shot=True),
}
