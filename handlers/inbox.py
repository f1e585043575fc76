"""/inbox for municipal staff (deputies read it): their municipalities' wishes, newest first,
filtered by status and topic or found by words, ten a page; one wish opened to answer it.

The steps: INBOX (a page) → WISH (one wish's card: its status buttons, duplicate, topic,
hide, next) → ANSWER (the words for the resident), DUPLICATE (the reference it repeats) or
TOPIC. `/inbox` opens on the wishes no one has answered yet; `/inbox 2145914` opens that
wish's card, `/inbox жарык` lists the wishes with the word. Once a wish is answered (or
marked a duplicate) the next wish of the same list follows at once, so clearing a list takes
two taps a wish: a status, and the words sent. A wish carries a version, raised by every
change; a button pressed on a view of an older version says the wish changed and shows it as
it is now. `ANSWER <ref> <status> <text>` (SMS `ЖООП`, `ОТВЕТ`) does the same in one message.
"""

from __future__ import annotations

import logging

from handlers import announce, answering, appeals
from handlers.answering import DUPLICATE, STATUSES
from handlers.context import Context
from handlers.dates import Day
from handlers.quotes import shorten
from handlers.sealing import SealBroken
from handlers.steps import Step
from handlers.types import Button, Reply, Text, in_rows, say, topic_buttons
from handlers.validation import small_number
from storage import queries
from storage.domain import wish_categories
from storage.models import Appeal, Wish
from storage.queries import appeals as appeal_rows
from storage.queries.answers import RECEIVED, SEARCH_WORDS

log = logging.getLogger(__name__)

INBOX = "inbox"
WISH = "inbox_wish"
ANSWER = "inbox_answer"
DUPLICATE_OF = "inbox_duplicate"
TOPIC = "inbox_topic"
FILTER = "inbox_filter"
EXTEND = "inbox_extend"
PAGE = 10
PER_ROW = 5  # the page's wish buttons (references of seven digits) in a row
LINE_LENGTH = 120  # characters of a wish's text in the list
SEARCH_LENGTH = 64  # characters of an inbox search kept with the conversation
FILTER_STATUSES = (RECEIVED, "open", *STATUSES, DUPLICATE)
ALL = "all"
SHORT = "short"  # the button that sends the shortened answer
BARE = "bare"  # the button that sets the status without words
BACK = "back"
NEXT = "next"  # the card's button: on to the next wish of the list, this one as it is
PUBLIC = "pub"  # the wish's button: its photos and place public, or not
EXTEND_BUTTON = "ext"  # an appeal's card: extend its due date, with a reason
ANNOUNCE = "tell"  # the page's button: "you said, we did" (handlers/announce.py)
# The flow's data: the list (status, category, words, page), the wish shown (wish, version),
# and the status being given (giving; not "status", which is the list's filter).


async def show(ctx: Context, argument: str) -> list[Reply]:
    """/inbox: the wishes no one has answered yet; /inbox REF: that wish; /inbox WORDS: the
    wishes with those words, whatever their status."""
    ctx.finish()
    places = await answering.places_of(ctx)
    if not places.readable:
        return [say("inbox.officials_only")]
    words = " ".join(argument.split())[:SEARCH_LENGTH]
    ctx.start_flow(status=None if words else RECEIVED, category=None, words=words, page=0)
    if words.isdigit():
        wish = await queries.wish_by_reference(ctx.session, words)
        if wish is not None and wish.municipality_id in places.readable:
            ctx.remember(status=RECEIVED, words="")  # its card's Back: the waiting list
            ctx.enter(WISH, wish=wish.id, version=wish.version)
            return [await wish_prompt(ctx)]
    ctx.enter(INBOX)
    return [await page_prompt(ctx)]


# --- a page of wishes -----------------------------------------------------------------------


def _words(ctx: Context) -> list[str]:
    return str(ctx.data.get("words") or "").split()[:SEARCH_WORDS]


async def page_prompt(ctx: Context) -> Reply:
    places = await answering.places_of(ctx)
    status, category = ctx.data.get("status"), ctx.data.get("category")
    number = int(ctx.data.get("page", 0))
    wishes, total = await queries.inbox_page(
        ctx.session, places.readable, status, category, number * PAGE, PAGE, _words(ctx)
    )
    pages = max((total + PAGE - 1) // PAGE, 1)
    if number >= pages:  # answered wishes left the list: its last page now
        ctx.remember(page=pages - 1)
        return await page_prompt(ctx)
    shown = Text(f"inbox.status.{status}") if status else Text("inbox.any_status")
    topic = Text(f"category.{category}") if category else Text("inbox.any_topic")
    header = Text(
        "inbox.header",
        {"total": total, "page": number + 1, "pages": pages, "status": shown, "topic": topic},
    )
    search = [Text("inbox.search", {"words": ctx.data["words"]})] if ctx.data.get("words") else []
    appealed = await appeal_rows.appeals_for(ctx.session, [wish.id for wish in wishes])
    lines = [part for wish in wishes for part in (_line(wish), *_clock(ctx, appealed.get(wish.id)))]
    opens = [Button(wish.reference, ctx.payload(f"o:{wish.id}")) for wish in wishes]
    turns = []
    if number > 0:
        turns.append(Button("◀", ctx.payload(f"p:{number - 1}")))
    if number + 1 < pages:
        turns.append(Button("▶", ctx.payload(f"p:{number + 1}")))
    filters = (
        Button(Text("inbox.filter_status"), ctx.payload("fs")),
        Button(Text("inbox.filter_topic"), ctx.payload("fc")),
    )
    tell = (Button(Text("announce.button"), ctx.payload(ANNOUNCE)),) if places.staff else ()
    rows = tuple(row for row in (*in_rows(opens, PER_ROW), tuple(turns), filters, tell) if row)
    parts = (header, *search, *(lines or [Text("inbox.empty")]))
    return Reply(parts=parts, buttons=rows)


def _line(wish: Wish) -> Text:
    text = Text("inbox.hidden_text") if wish.hidden else shorten(wish.text, LINE_LENGTH)
    return Text(
        "inbox.line",
        {
            "reference": wish.reference,
            "date": wish.created_at.date().isoformat(),
            "kind": Text(f"kind.{wish.kind}"),
            "topic": Text(f"category.{wish.category}"),
            "status": Text(f"status.{answering.shown_status(wish)}"),
            "text": text,
        },
    )


async def choose_on_page(ctx: Context, value: str) -> list[Reply] | None:
    action, _, argument = value.partition(":")
    if action == "p" and argument.isdigit():
        ctx.enter(INBOX, page=int(argument))
        return [await page_prompt(ctx)]
    if action == "o" and argument.isdigit():
        return await _open(ctx, int(argument))
    if action == ANNOUNCE:
        return await announce.start(ctx)
    if action in ("fs", "fc"):
        ctx.enter(FILTER, filtering="status" if action == "fs" else "category")
        return [await filter_prompt(ctx)]
    return None


async def filter_prompt(ctx: Context) -> Reply:
    values: tuple[str, ...]
    if ctx.data.get("filtering") == "status":
        values, prefix, question = FILTER_STATUSES, "inbox.status.", "inbox.filter_status"
    else:
        values, prefix, question = tuple(wish_categories()), "category.", "inbox.filter_topic"
    buttons = [Button(Text(f"{prefix}{v}"), ctx.payload(v)) for v in values]
    rows = in_rows([*buttons, Button(Text("inbox.all"), ctx.payload(ALL))])
    return Reply(parts=(Text(question),), buttons=rows)


async def choose_filter(ctx: Context, value: str) -> list[Reply] | None:
    filtering = str(ctx.data.get("filtering"))
    allowed = FILTER_STATUSES if filtering == "status" else tuple(wish_categories())
    if value != ALL and value not in allowed:
        return None
    ctx.enter(INBOX, **{filtering: None if value == ALL else value, "page": 0})
    return [await page_prompt(ctx)]


# --- one wish -------------------------------------------------------------------------------


async def _open(ctx: Context, wish_id: int) -> list[Reply]:
    wish = await queries.wish_by_id(ctx.session, wish_id)
    places = await answering.places_of(ctx)
    if wish is None or wish.municipality_id not in places.readable:
        return [(await page_prompt(ctx)).after(Text("inbox.not_yours"))]
    ctx.enter(WISH, wish=wish.id, version=wish.version)
    return [await wish_prompt(ctx)]


async def wish_prompt(ctx: Context) -> Reply:
    wish = await queries.wish_by_id(ctx.session, int(ctx.data["wish"]))
    assert wish is not None  # wishes are never deleted while staff look at them
    places = await answering.places_of(ctx)
    appeal = await appeal_rows.appeal_of(ctx.session, wish.id)
    parts = [_line(wish), *_clock(ctx, appeal)]
    if appeal is not None and wish.municipality_id in places.staff:
        parts.append(_appellant(ctx, appeal))
    if wish.hidden:
        parts.append(Text("inbox.full_text_hidden", {"text": wish.text}))
    elif len(wish.text) > LINE_LENGTH:
        parts.append(Text("inbox.full_text", {"text": wish.text}))
    if wish.answer:
        parts.append(Text("inbox.answered", {"answer": wish.answer}))
    duplicates = await queries.duplicates_of(ctx.session, wish.id)
    if duplicates:
        parts.append(Text("inbox.duplicates", {"count": len(duplicates)}))
    if answering.listener(wish) is None:
        parts.append(Text("inbox.no_one_to_tell"))
    photos = tuple(p.key for p in await queries.photos_of(ctx.session, wish.id))
    shown = _shown(wish, len(photos))
    parts += shown
    moves = (
        Button(Text("inbox.back"), ctx.payload(BACK)),
        Button(Text("inbox.next_button"), ctx.payload(NEXT)),
    )
    if wish.municipality_id not in places.staff:  # a deputy reads
        parts.append(Text("inbox.read_only"))
        return Reply(parts=tuple(parts), buttons=(moves,), photos=photos)
    statuses = [Button(Text(f"status.{s}"), ctx.payload(f"s:{s}")) for s in STATUSES]
    hide = "inbox.show_button" if wish.hidden else "inbox.hide_button"
    rows: tuple[tuple[Button, ...], ...] = (
        tuple(statuses[:2]),
        tuple(statuses[2:]),
        (
            Button(Text("inbox.duplicate_button"), ctx.payload("dup")),
            Button(Text("inbox.topic_button"), ctx.payload("topic")),
        ),
        (Button(Text(hide), ctx.payload("hide")),),
        moves,
    )
    if appeal is not None and appeal.answered_on is None and appeal.extended_reason is None:
        extend = (Button(Text("appeal.extend_button"), ctx.payload(EXTEND_BUTTON)),)
        rows = (*rows[:-1], extend, rows[-1])
    if shown:
        public = "inbox.private_button" if wish.media_public else "inbox.public_button"
        rows = (*rows[:3], (Button(Text(public), ctx.payload(PUBLIC)),), *rows[3:])
    return Reply(parts=(*parts, Text("inbox.choose_action")), buttons=rows, photos=photos)


def _clock(ctx: Context, appeal: Appeal | None) -> list[Text]:
    """An appeal's number and due date, how late it is, and why it was extended."""
    if appeal is None:
        return []
    due = Day(appeal.due_on, ctx.language)
    lines = [Text("appeal.inbox_line", {"number": appeal.number, "due": due})]
    late = appeals.working_days_late(appeal.due_on, ctx.today)
    if appeal.answered_on is None and late:
        lines.append(Text("appeal.inbox_overdue", {"days": late}))
    if appeal.extended_reason:
        lines.append(Text("appeal.inbox_extended", {"reason": appeal.extended_reason}))
    return lines


def _appellant(ctx: Context, appeal: Appeal) -> Text:
    """The appellant's name and address, for the municipality's staff only (the caller
    checks). The answer then carries them: it is never kept with the delivery (§8)."""
    ctx.private = True
    try:
        opened = appeals.identity(appeal, ctx.pseudonyms)
    except SealBroken:  # another SECRET_KEY, never rotated to: the card still works
        log.warning("appeal %s: its seal does not open with SECRET_KEY", appeal.number)
        return Text("appeal.inbox_unreadable")
    if not opened:
        return Text("appeal.inbox_forgotten")
    return Text("appeal.inbox_identity", opened)


def _shown(wish: Wish, photos: int) -> list[Text]:
    """What the resident showed: how many photos (they follow the message), the place with
    a map link, and whether staff made them public."""
    shown = [Text("inbox.photos", {"count": photos})] if photos else []
    if wish.latitude is not None and wish.longitude is not None:
        where = {"latitude": f"{wish.latitude:.3f}", "longitude": f"{wish.longitude:.3f}"}
        shown.append(Text("inbox.place", where))
    if shown:
        shown.append(Text("inbox.public_yes" if wish.media_public else "inbox.public_no"))
    return shown


async def _acting_on(ctx: Context) -> Wish | None:
    """The wish being worked on, if this staff member may act on it."""
    wish = await queries.wish_by_id(ctx.session, int(ctx.data.get("wish", 0)))
    places = await answering.places_of(ctx)
    if wish is None or wish.municipality_id not in places.staff:
        return None
    return wish


async def _not_yours(ctx: Context) -> list[Reply]:
    ctx.enter(INBOX)
    return [(await page_prompt(ctx)).after(Text("inbox.not_yours"))]


async def _changed(ctx: Context, wish: Wish) -> list[Reply]:
    ctx.enter(WISH, version=wish.version)
    return [(await wish_prompt(ctx)).after(Text("inbox.changed"))]


async def _current(ctx: Context) -> tuple[Wish | None, list[Reply] | None]:
    """The wish being worked on if this staff member may act on it and it has not changed
    since it was shown; else what to say instead."""
    wish = await _acting_on(ctx)
    if wish is None:
        return None, await _not_yours(ctx)
    if wish.version != ctx.data.get("version"):
        return None, await _changed(ctx, wish)
    return wish, None


async def choose_on_wish(ctx: Context, value: str) -> list[Reply] | None:
    if value == BACK:
        ctx.enter(INBOX)
        return [await page_prompt(ctx)]
    if value == NEXT:
        wish = await queries.wish_by_id(ctx.session, int(ctx.data.get("wish", 0)))
        return [await _next_after(ctx, wish)] if wish is not None else None
    if value not in ("dup", "topic", "hide", PUBLIC, EXTEND_BUTTON) and not value.startswith("s:"):
        return None
    wish, instead = await _current(ctx)
    if wish is None:
        return instead
    if value == EXTEND_BUTTON:
        ctx.enter(EXTEND)
        return [await extend_prompt(ctx)]
    if value.startswith("s:") and value[2:] in STATUSES:
        ctx.enter(ANSWER, giving=value[2:])
        return [await answer_prompt(ctx)]
    if value == "dup":
        ctx.enter(DUPLICATE_OF)
        return [await duplicate_prompt(ctx)]
    if value == "topic":
        ctx.enter(TOPIC)
        return [await topic_prompt(ctx)]
    if value == "hide":
        wish.hidden = not wish.hidden
        done = Text("inbox.hidden_now" if wish.hidden else "inbox.shown_now")
        return [await _reshow(ctx, wish, done)]
    if value == PUBLIC:  # photos and place on the public page and in open data, or not
        wish.media_public = not wish.media_public
        done = Text("inbox.public_now" if wish.media_public else "inbox.private_now")
        return [await _reshow(ctx, wish, done)]
    return None


async def _reshow(ctx: Context, wish: Wish, done: Text) -> Reply:
    # Writing the change raises the version, unless another staff member's change came
    # first: then StaleDataError, nothing is kept, the update comes again and finds it.
    await ctx.session.flush()
    ctx.enter(WISH, wish=wish.id, version=wish.version)
    return (await wish_prompt(ctx)).after(done)


async def _next_after(ctx: Context, wish: Wish, *done: Text) -> Reply:
    """The card of the wish after this one in the staff member's list, with what became of
    this one; the list itself when nothing else is in it."""
    places = await answering.places_of(ctx)
    found = await queries.next_in_inbox(
        ctx.session,
        places.readable,
        ctx.data.get("status"),
        ctx.data.get("category"),
        _words(ctx),
        wish,
    )
    if found is None:
        ctx.enter(INBOX)
        return (await page_prompt(ctx)).after(*done, Text("inbox.none_left"))
    ctx.enter(WISH, wish=found.id, version=found.version)
    return (await wish_prompt(ctx)).after(*done)


# --- the answer's words -----------------------------------------------------------------


async def answer_prompt(ctx: Context) -> Reply:
    wish = await queries.wish_by_id(ctx.session, int(ctx.data["wish"]))
    assert wish is not None
    status = Text(f"status.{ctx.data.get('giving')}")
    limit = answering.limit_for(wish)
    buttons = [(Button(Text("inbox.bare_button"), ctx.payload(BARE)),)]
    if ctx.data.get("short"):
        buttons.insert(0, (Button(Text("inbox.short_button"), ctx.payload(SHORT)),))
    buttons.append((Button(Text("inbox.back"), ctx.payload(BACK)),))
    question = Text("inbox.answer_prompt", {"status": status, "limit": limit})
    return Reply(parts=(question,), buttons=tuple(buttons))


async def take_answer(ctx: Context, text: str) -> list[Reply]:
    words = " ".join(text.split())
    wish = await _acting_on(ctx)
    if wish is None:
        return await _not_yours(ctx)
    problem = answering.check_answer(wish, words)
    if problem is not None:  # offered shortened; the long one is not lost from the chat
        ctx.remember(short=problem.values["short"])
        return [(await answer_prompt(ctx)).after(problem)]
    return await _give(ctx, wish, words)


async def choose_answer(ctx: Context, value: str) -> list[Reply] | None:
    if value == BACK:
        ctx.enter(WISH)
        return [await wish_prompt(ctx)]
    if value not in (SHORT, BARE):
        return None
    wish = await _acting_on(ctx)
    if wish is None:
        return await _not_yours(ctx)
    return await _give(ctx, wish, str(ctx.data.get("short", "")) if value == SHORT else "")


async def _give(ctx: Context, wish: Wish, words: str) -> list[Reply]:
    """Answer the wish, then on to the next. A wish changed since it was shown is shown
    again, unless the change was this very answer (a colleague's, or this one sent twice)."""
    status = str(ctx.data.get("giving"))
    ctx.remember(short=None)
    if status not in STATUSES:  # a step begun before "giving" was its name
        ctx.enter(WISH)
        return [await wish_prompt(ctx)]
    if wish.version != ctx.data.get("version"):
        repeated = await answering.repeated(ctx.session, wish, status, words)
        if repeated is None:
            return await _changed(ctx, wish)
        return [await _next_after(ctx, wish, repeated)]
    done = await answering.answer(ctx.session, wish, ctx.person, status, words, ctx.inbound.channel)
    return [await _next_after(ctx, wish, done)]


# --- a duplicate, another topic -----------------------------------------------------------


async def duplicate_prompt(ctx: Context) -> Reply:
    back = (Button(Text("inbox.back"), ctx.payload(BACK)),)
    return Reply(parts=(Text("inbox.duplicate_prompt"),), buttons=(back,))


async def take_duplicate(ctx: Context, text: str) -> list[Reply]:
    wish, instead = await _current(ctx)
    if wish is None:
        return instead or []
    said = await answering.mark_duplicate(ctx.session, wish, ctx.person, text, ctx.inbound.channel)
    if said.key != "answer.duplicate_saved":
        return [(await duplicate_prompt(ctx)).after(said)]
    return [await _next_after(ctx, wish, said)]


async def back_to_wish(ctx: Context, value: str) -> list[Reply] | None:
    if value != BACK:
        return None
    ctx.enter(WISH)
    return [await wish_prompt(ctx)]


async def topic_prompt(ctx: Context) -> Reply:
    return Reply(parts=(Text("inbox.topic_prompt"),), buttons=in_rows(topic_buttons(ctx.payload)))


async def choose_topic(ctx: Context, value: str) -> list[Reply] | None:
    if value not in wish_categories():
        return None
    wish, instead = await _current(ctx)
    if wish is None:
        return instead
    wish.category = value
    return [await _reshow(ctx, wish, Text("inbox.topic_now", {"topic": Text(f"category.{value}")}))]


# --- an appeal's extension: the days and the reason, in one message ------------------------


async def _appeal_acted_on(ctx: Context) -> Appeal | None:
    wish = await _acting_on(ctx)
    return await appeal_rows.appeal_of(ctx.session, wish.id) if wish is not None else None


async def extend_prompt(ctx: Context) -> Reply:
    appeal = await _appeal_acted_on(ctx)
    number = appeal.number if appeal is not None else ""
    back = (Button(Text("inbox.back"), ctx.payload(BACK)),)
    question = Text("appeal.extend_prompt", {"number": number, "most": appeals.RULES.answer_days})
    return Reply(parts=(question,), buttons=(back,))


async def take_extension(ctx: Context, text: str) -> list[Reply]:
    """The working days, then the reason, in one message: 10 the district must agree."""
    appeal = await _appeal_acted_on(ctx)
    if appeal is None:
        return await _not_yours(ctx)
    word, _, reason = text.strip().partition(" ")
    days = small_number(word)  # ASCII digits only: "²" is a digit to str.isdigit
    if days is None:
        return [(await extend_prompt(ctx)).after(Text("appeal.extend_how"))]
    try:
        await appeals.extend(
            ctx.session, appeal, days, reason, ctx.person, ctx.today, ctx.inbound.channel
        )
    except appeals.NotExtendable as refused:
        return [(await extend_prompt(ctx)).after(refused.why)]
    ctx.enter(WISH)
    saved = {"number": appeal.number, "due": Day(appeal.due_on, ctx.language)}
    return [(await wish_prompt(ctx)).after(Text("appeal.extend_saved", saved))]


# --- in one message: ANSWER <ref> <status> <text> ----------------------------------------


async def answer_command(ctx: Context, argument: str) -> list[Reply]:
    """/answer REF STATUS TEXT; SMS: ЖООП / ОТВЕТ / ANSWER."""
    ctx.finish()
    places = await answering.places_of(ctx)
    if not places.staff:
        return [say("answer.staff_only")]
    reference, status_word, words = [*argument.split(maxsplit=2), "", "", ""][:3]
    status = answering.status_of(status_word)
    if not reference or status is None:
        return [say("answer.how")]
    wish = await queries.wish_by_reference(ctx.session, reference)
    if wish is None or wish.municipality_id not in places.staff:
        return [say("answer.no_such_wish", reference=reference.upper()[:16])]
    if status == DUPLICATE:
        return [Reply(parts=(await answering.mark_duplicate(
            ctx.session, wish, ctx.person, words, ctx.inbound.channel
        ),))]  # fmt: skip
    words = " ".join(words.split())
    problem = answering.check_answer(wish, words)
    if problem is not None:
        return [Reply(parts=(problem,))]
    return [Reply(parts=(await answering.answer(
        ctx.session, wish, ctx.person, status, words, ctx.inbound.channel
    ),))]  # fmt: skip


# /inbox: page, filter, wish, answer, duplicate, topic, an appeal's extension
# (handlers/router.py joins them).
STEPS: dict[str, Step] = {
    INBOX: Step(page_prompt, choose_on_page),
    FILTER: Step(filter_prompt, choose_filter),
    WISH: Step(wish_prompt, choose_on_wish),
    ANSWER: Step(answer_prompt, choose_answer, take_answer),
    DUPLICATE_OF: Step(duplicate_prompt, back_to_wish, take_duplicate),
    TOPIC: Step(topic_prompt, choose_topic),
    EXTEND: Step(extend_prompt, back_to_wish, take_extension),
}
