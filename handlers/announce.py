""" "You said, we did": staff tell everyone who wrote on a topic in the last weeks what was
done, in one message (from /inbox's button). A topic, how many weeks back, the words; then a
preview with the number of recipients before anything is sent. One per municipality, topic
and week; residents who opted out are not counted and get nothing."""

from __future__ import annotations

from datetime import timedelta

from handlers import answering
from handlers.context import Context
from handlers.steps import Step
from handlers.types import Button, Reply, Text, in_rows, say, topic_buttons
from handlers.weeks import Week
from storage import queries
from storage.domain import wish_categories
from storage.models import Announcement, utcnow

TOPIC = "announce_topic"
WEEKS = "announce_weeks"
WORDS = "announce_text"
PREVIEW = "announce_preview"
WEEK_CHOICES = (4, 8, 12)
LIMIT = 120  # characters: it goes to SMS residents too
SEND, BACK = "send", "back"


async def start(ctx: Context) -> list[Reply]:
    places = await answering.places_of(ctx)
    if not places.staff:
        return [say("answer.staff_only")]
    ctx.start_flow(place=places.staff[0])  # someone on staff in several places: the first
    ctx.enter(TOPIC)
    return [await topic_prompt(ctx)]


async def topic_prompt(ctx: Context) -> Reply:
    rows = in_rows(topic_buttons(ctx.payload))
    return Reply(parts=(Text("announce.topic_prompt"),), buttons=rows)


async def choose_topic(ctx: Context, value: str) -> list[Reply] | None:
    if value not in wish_categories():
        return None
    ctx.enter(WEEKS, category=value)
    return [await weeks_prompt(ctx)]


async def weeks_prompt(ctx: Context) -> Reply:
    row = tuple(
        Button(Text("announce.weeks", {"weeks": n}), ctx.payload(str(n))) for n in WEEK_CHOICES
    )
    return Reply(parts=(Text("announce.weeks_prompt"),), buttons=(row,))


async def choose_weeks(ctx: Context, value: str) -> list[Reply] | None:
    if value not in {str(n) for n in WEEK_CHOICES}:
        return None
    ctx.enter(WORDS, weeks=int(value))
    return [await words_prompt(ctx)]


async def words_prompt(ctx: Context) -> Reply:
    return say("announce.text_prompt", limit=LIMIT)


async def take_words(ctx: Context, text: str) -> list[Reply]:
    words = " ".join(text.split())
    if not words or len(words) > LIMIT:
        problem = Text("error.too_long", {"limit": LIMIT, "length": len(words)})
        return [(await words_prompt(ctx)).after(problem if words else Text("error.empty_text"))]
    ctx.enter(PREVIEW, text=words)
    return [await preview_prompt(ctx)]


async def _recipients(ctx: Context) -> list[int]:
    since = utcnow() - timedelta(weeks=int(ctx.data.get("weeks", 4)))
    place, category = int(ctx.data["place"]), str(ctx.data["category"])
    return await queries.topic_writers(ctx.session, place, category, since)


async def preview_prompt(ctx: Context) -> Reply:
    count = len(await _recipients(ctx))
    topic, weeks = Text(f"category.{ctx.data.get('category')}"), ctx.data.get("weeks")
    back = Button(Text("inbox.back"), ctx.payload(BACK))
    if not count:
        nobody = Text("announce.nobody", {"topic": topic, "weeks": weeks})
        return Reply(parts=(nobody,), buttons=((back,),))
    # Counted by its recipients; the weeks are a counted message of their own ("4 weeks").
    values = {
        "count": count,
        "topic": topic,
        "weeks": Text("announce.weeks", {"weeks": weeks}),
        "text": ctx.data.get("text"),
    }
    send = Button(Text("announce.send_button", {"count": count}), ctx.payload(SEND))
    return Reply(parts=(Text("announce.preview", values),), buttons=((send, back),))


async def choose_preview(ctx: Context, value: str) -> list[Reply] | None:
    if value == BACK:
        ctx.enter(TOPIC)
        return [await topic_prompt(ctx)]
    if value != SEND:
        return None
    places = await answering.places_of(ctx)
    place, category = int(ctx.data["place"]), str(ctx.data["category"])
    if place not in places.staff:  # the role was taken away meanwhile
        ctx.finish()
        return [say("answer.staff_only")]
    recipients = await _recipients(ctx)
    text = str(ctx.data.get("text", ""))
    announcement = Announcement(
        municipality_id=place,
        category=category,
        period=str(Week.of(ctx.today)),
        text=text,
        staff_id=ctx.person.id,
        recipients=len(recipients),
        created_at=utcnow(),
    )
    ctx.finish()
    if not await queries.add_announcement(ctx.session, announcement):
        return [say("announce.once_a_week", topic=Text(f"category.{category}"))]
    municipality = await queries.municipality_by_id(ctx.session, place)
    for person_id in recipients:
        person = await queries.person_by_id(ctx.session, person_id)
        if person is None:
            continue
        values: dict[str, object] = {
            "place": municipality.name(person.language) if municipality else "",
            "topic": {"t": f"category.{category}"},
            "text": text,
        }
        await queries.add_notice(ctx.session, person_id, "announce.notice", values)
    return [say("announce.sent", count=len(recipients))]


# "You said, we did": topic, weeks, words, preview (handlers/router.py joins them).
STEPS: dict[str, Step] = {
    TOPIC: Step(topic_prompt, choose_topic),
    WEEKS: Step(weeks_prompt, choose_weeks),
    WORDS: Step(words_prompt, on_text=take_words),
    PREVIEW: Step(preview_prompt, choose_preview),
}
