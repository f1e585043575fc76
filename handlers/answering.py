"""Staff answering a wish — the rules the Telegram inbox and the SMS `ЖООП` share: who may,
how long an answer may be, duplicates, and who hears of it.

The resident hears back through a notice (bot/channels/notices.py sends it on their channel, in
their language, unless they have opted out); a wish whose resident used /forget, or a card
typed at a street stand, has no one to tell. Residents whose wishes were marked duplicates
of this one hear the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import appeals
from handlers.context import Context
from handlers.quotes import shorten
from handlers.types import Text
from handlers.validation import fold
from storage import queries
from storage.channels import PAID_PER_MESSAGE, REACHABLE
from storage.domain import DUPLICATE, FINAL_STATUSES
from storage.models import Person, Wish, utcnow
from storage.queries import appeals as appeal_rows
from storage.queries import audit
from storage.queries.answers import RECEIVED

STATUSES = ("accepted", "in_progress", "done", "declined")
# The same answer to the same wish given again this soon is not sent again: a staff member
# who sent an SMS twice, or two who cleared one list together (docs/decisions.md).
REPEAT_WINDOW = timedelta(minutes=15)
ANSWER_LIMIT = 500  # characters: a short answer, not a letter
# An answer to an SMS resident fits two segments with its reference and status (134
# characters in Cyrillic): the text itself at most this many.
SMS_ANSWER_LIMIT = 90
NOTICE = "answer.notice"  # to the resident
NOTICE_BARE = "answer.notice_bare"  # a status without words
UNREACHED = "answer.unreached"  # to the staff member, when the resident could not be told
ANSWERED_BY = "answered_by"  # a resident's notice carries who answered, to tell them if not
MAX_CHAIN = 20  # duplicates of duplicates followed this far at most


# The status word of `ANSWER <ref> <status> <text>`, in any of the three languages, or its
# number; Kyrgyz letters folded as phones without them type them (О for Ө, У for Ү).
STATUS_WORDS = {
    "accepted": ("1", "КАБЫЛ", "ПРИНЯТО", "ACCEPTED"),
    "in_progress": ("2", "АТКАРЫЛУУДА", "ИШТЕ", "ВРАБОТЕ", "РАБОТА", "PROGRESS", "IN_PROGRESS"),
    "done": ("3", "АТКАРЫЛДЫ", "ВЫПОЛНЕНО", "СДЕЛАНО", "DONE"),
    "declined": ("4", "ЧЕТКЕ", "ОТКЛОНЕНО", "ОТКАЗ", "DECLINED"),
    DUPLICATE: ("5", "КАЙТАЛОО", "ДУБЛЬ", "ДУБЛИКАТ", "DUPLICATE"),
}
_STATUS_INDEX = {fold(word): status for status, words in STATUS_WORDS.items() for word in words}


def status_of(word: str) -> str | None:
    return _STATUS_INDEX.get(fold(word).strip(".,:!"))


def shown_status(wish: Wish) -> str:
    """The status a reader is shown: "received" until a staff member first gives the wish a
    status (every wish is stored as "accepted" from the start), then the one given."""
    if wish.status == "accepted" and wish.answered_at is None:
        return RECEIVED
    return wish.status


def status_text(status: str) -> dict[str, str]:
    """A notice's value that the notifier renders in the reader's language."""
    return {"t": f"status.{status}"}


PLACES = "official_places"  # the key of a Places in Context.cache


@dataclass(frozen=True)
class Places:
    """Where a person is an official: staff act, deputies read."""

    staff: tuple[int, ...]
    deputy: tuple[int, ...]

    @property
    def readable(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys((*self.staff, *self.deputy)))


async def places_of(ctx: Context) -> Places:
    """Where the person acting is an official: read once per action (an inbox press asks it
    in the prompt and in the action alike)."""
    cached = ctx.cache.get(PLACES)
    if isinstance(cached, Places):
        return cached
    roles = await queries.official_places(ctx.session, ctx.person)
    staff = tuple(m.id for role, m in roles if role == "staff")
    deputy = tuple(m.id for role, m in roles if role == "deputy")
    ctx.cache[PLACES] = places = Places(staff, deputy)
    return places


def listener(wish: Wish) -> int | None:
    """The person who hears an answer to the wish, if anyone: no one after /forget, for a
    passer-by's card, or in a browser (the web chat's residents read answers with /mine)."""
    return wish.person_id if wish.channel in REACHABLE else None


def limit_for(wish: Wish) -> int:
    return SMS_ANSWER_LIMIT if wish.channel in PAID_PER_MESSAGE else ANSWER_LIMIT


def check_answer(wish: Wish, text: str) -> Text | None:
    """Why this answer cannot go to the wish's resident as it is, with a shortened one
    offered; None if it can."""
    limit = limit_for(wish)
    if len(text) <= limit:
        return None
    return Text(
        "answer.too_long",
        {"limit": limit, "length": len(text), "short": shorten(text, limit - 1)},
    )


def _same_words(first: str | None, second: str | None) -> bool:
    return " ".join((first or "").split()).casefold() == " ".join((second or "").split()).casefold()


async def repeated(
    session: AsyncSession, wish: Wish, status: str, text: str, now: datetime | None = None
) -> Text | None:
    """What to tell staff when this answer is the one the wish was last given, less than
    REPEAT_WINDOW ago (the same status, the same words but for case and spaces): it is not
    sent again. None when it is a new answer."""
    latest = await queries.latest_answer(session, wish.id)
    if latest is None or (now or utcnow()) - latest.created_at >= REPEAT_WINDOW:
        return None
    if latest.status != status or not _same_words(latest.text, text):
        return None
    return Text(
        "answer.repeated", {"reference": wish.reference, "status": Text(f"status.{status}")}
    )


async def answer(
    session: AsyncSession, wish: Wish, staff: Person, status: str, text: str, channel: str
) -> Text:
    """Give the wish a status and, optionally, words for its resident; tell them, and the
    residents of its duplicates; a final status (FINAL_STATUSES) stops the legal clock of
    their appeals (handlers/appeals.py). The caller has checked the role and the text. The same
    answer again within REPEAT_WINDOW changes nothing and tells no one (`repeated`): two
    at once both change the wish's row, so its version lets one commit and the other is
    rolled back, comes again, and finds the first."""
    now = utcnow()
    said = await repeated(session, wish, status, text, now)
    if said is not None:
        return said
    wish.status, wish.status_at = status, now
    if text:
        wish.answer = text
    if wish.answered_at is None:
        wish.answered_at = now
    if status == "done":
        wish.followup_at, wish.followup = None, None  # asked again four weeks from now
    queries.add_answer(session, wish, status, text or None, staff.id, channel, now)
    await _audited(session, wish, staff, channel, "answer", {"status": status})
    duplicates = await queries.duplicates_of(session, wish.id)
    for told in (wish, *duplicates):
        await _tell(session, told, status, text, staff)
        if status in FINAL_STATUSES:  # its residents heard the answer: their appeals too
            await appeal_rows.stop_clock(session, told.id, appeals.local_day(now))
    # Only a resident who can be told is promised it; the notifier says if it fails after all.
    saved = "answer.saved" if listener(wish) is not None else "answer.saved_unheard"
    return Text(saved, {"reference": wish.reference, "status": Text(f"status.{status}")})


async def _audited(
    session: AsyncSession,
    wish: Wish,
    staff: Person,
    channel: str,
    action: str,
    detail: dict[str, str],
) -> None:
    """The action in the audit log, whatever channel it came by (the chat inbox, SMS ЖООП,
    the console: one path, docs/decisions.md): the staff member and the wish's reference,
    never its resident."""
    await audit.record(
        session, person_id=staff.id, municipality_id=wish.municipality_id, via=channel,
        action=action, subject=wish.reference, detail=detail,
    )  # fmt: skip


async def _tell(session: AsyncSession, wish: Wish, status: str, text: str, staff: Person) -> None:
    person_id = listener(wish)
    if person_id is None:
        return
    values: dict[str, object] = {
        "reference": wish.reference,
        "status": status_text(status),
        "opened_at": wish.created_at.isoformat(),  # WhatsApp's window, if still open
        ANSWERED_BY: staff.id,
    }
    if text:
        await queries.add_notice(session, person_id, NOTICE, {**values, "text": text})
    else:
        await queries.add_notice(session, person_id, NOTICE_BARE, values)


async def mark_duplicate(
    session: AsyncSession, wish: Wish, staff: Person, reference: str, channel: str
) -> Text:
    """The wish repeats another (by reference): it points at the first of a chain, never at
    itself; wishes that repeated it now repeat that one too."""
    target = await queries.wish_by_reference(session, reference.strip())
    if target is None or target.municipality_id != wish.municipality_id:
        return Text("answer.no_such_wish", {"reference": reference.strip().upper()})
    for _ in range(MAX_CHAIN):
        if target.duplicate_of is None:
            break
        found = await queries.wish_by_id(session, target.duplicate_of)
        if found is None:
            break
        target = found
    if target.id == wish.id:
        return Text("answer.duplicate_self", {"reference": wish.reference})
    saved = Text("answer.duplicate_saved", {"reference": wish.reference, "of": target.reference})
    if wish.status == DUPLICATE and wish.duplicate_of == target.id:
        return saved  # so marked already: nothing changes, and no one is told again
    now = utcnow()
    for marked in (wish, *await queries.duplicates_of(session, wish.id)):
        marked.status, marked.status_at, marked.duplicate_of = DUPLICATE, now, target.id
        if target.status in FINAL_STATUSES:  # answered already: no answer will come to stop it
            await appeal_rows.stop_clock(session, marked.id, appeals.local_day(now))
    wish.answered_at = wish.answered_at or now
    queries.add_answer(session, wish, DUPLICATE, target.reference, staff.id, channel, now)
    await _audited(session, wish, staff, channel, "duplicate", {"of": target.reference})
    person_id = listener(wish)
    if person_id is not None:
        values: dict[str, object] = {
            "reference": wish.reference,
            "of": target.reference,
            ANSWERED_BY: staff.id,
        }
        await queries.add_notice(session, person_id, "answer.duplicate_notice", values)
    return saved
