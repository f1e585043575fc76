"""Every message the SMS channel sends, in the three languages, measured with the channel's own
segment counter (bot/channels/sms/segments.py) and the longest values it can carry: one
segment each (70 characters in Cyrillic, 160 in GSM-7), but for the few listed with why; and
none names a Telegram /command (an SMS resident types keywords)."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

import pytest

from bot.channels import poll_message
from bot.channels.sms.segments import is_gsm7, segments
from bot.runtime.i18n import Catalogues
from handlers import announce, appeals, flood, media, poll_outcome, poll_results, polls
from handlers.initiatives import day_name
from handlers.onboarding import LANGUAGE_NAMES
from handlers.types import Text
from storage.domain import LANGUAGES, facts, wish_categories
from storage.models import Poll, PollOption
from storage.place_list import shipped_units
from tests.test_catalogues import message_ids

# One SMS each: the catalogue keys of its parts, joined as the channel joins them.
SMS_MESSAGES: list[tuple[str, ...]] = [
    # wishes
    ("wish.saved", "place.hint"),
    ("wish.saved",),
    ("photo.unreachable", "wish.saved"),
    ("photo.place_first", "wish.saved", "place.hint"),
    ("wish.saved", "photo.with_wish"),
    ("wish.text_missing.change",),
    ("wish.text_missing.great",),
    ("wish.flood",),
    ("wish.flood_origin",),
    ("campaign.ended",),
    ("error.too_long",),
    ("error.internal",),
    ("flood.messages",),
    ("error.unsupported", "hint.commands"),
    # a text with no keyword
    ("help.text",),
    ("free_text.ask",),
    ("free_text.ask_topic",),
    ("free_text.dropped",),
    # photos and places
    ("photo.place_first", "hint.commands"),
    ("photo.unreachable", "hint.commands"),
    ("photo.not_with_bribe", "bribe.saved"),
    ("photo.wrong_kind",),
    ("photo.not_here",),
    ("photo.too_big",),
    ("photo.too_many_pixels",),
    ("photo.not_an_image",),
    ("photo.first_ones",),
    ("photo.over_limit",),
    ("photo.no_mms",),
    ("photo.sms_how",),
    ("photo.attached",),
    ("location.dropped",),
    ("location.outside",),
    ("location.ask_sms",),
    ("location.sms_first",),
    ("location.attached",),
    # place, language, account
    ("place.set",),
    ("place.unknown",),
    ("place.usage",),
    ("language.set",),
    ("language.unknown",),
    ("stop.done",),
    ("stop.still",),
    ("resume.done",),
    ("forget.done",),
    # /mine by SMS and the follow-up
    ("mine.none",),
    ("mine.header", "mine.line", "mine.line", "mine.line"),
    ("followup.ask",),
    ("followup.how", "followup.ask"),
    ("followup.thanks_yes",),
    ("followup.reopened",),
    ("followup.already",),
    ("answer.notice_bare",),
    ("answer.duplicate_notice",),
    # bribe reports
    ("bribe.saved",),
    ("bribe.received",),
    ("private.already_answered",),  # any private step's redelivery (bot/channels/sms)
    ("bribe.place_first",),
    ("bribe.usage",),
    ("bribe.flood",),
    ("bribe.amount_too_big",),
    ("bribe.amount_negative",),
    ("bribe.amount_nonsense",),
    # signatures
    ("sign.done",),
    ("sign.usage",),
    ("sign.address_prompt",),
    ("sign.address_empty", "sign.address_prompt"),
    ("pin.odd_date", "sign.address_prompt"),
    ("pin.odd_date", "sign.done"),
    ("sign.unknown",),
    ("sign.not_yet",),
    ("sign.closed",),
    ("sign.already",),
    ("sign.disputed",),
    ("sign.flood",),
    ("sign.sender_limit",),
    ("pin.not_digits",),
    ("pin.length",),
    ("pin.first_digit",),
    ("pin.under_age",),
    ("name.letters",),
    ("name.one_word",),
    ("initiative.milestone",),
    # invites, and what officials, organizers and volunteers get by SMS
    ("invite.usage",),
    ("invite.unknown",),
    ("invite.used",),
    ("invite.expired",),
    ("invite.initiator",),
    ("campaign.summary",),
    ("campaign.summary_empty",),
    ("answer.staff_only",),
    ("answer.how",),
    ("answer.no_such_wish",),
    ("answer.saved",),
    ("answer.saved_unheard",),
    ("answer.repeated",),
    ("answer.duplicate_saved",),
    ("answer.duplicate_self",),
    # the console's link (ВЕБ, WEB)
    ("console.officials_only",),
    ("console.no_address",),
    ("followup.staff_reopened",),
    ("answer.unreached why=unreached.opted_out",),
    ("answer.unreached why=unreached.blocked",),
    ("answer.unreached why=unreached.failed",),
    # polls: answers, refusals (with the answer kept), the closing questions
    ("poll.thanks",),
    ("poll.changed",),
    ("poll.out_of_range", "poll.kept"),
    ("poll.not_numbers", "poll.kept"),
    ("poll.too_many", "poll.kept"),
    ("poll.repeated", "poll.kept"),
    ("poll.unknown",),
    ("poll.usage",),
    ("poll.none",),
    ("poll.other_place",),
    ("poll.not_open",),
    ("poll.closed",),
    ("poll.place_first",),
    ("poll.flood",),
    ("poll.ask_age",),
    ("poll.ask_gender",),
    ("poll.profile_thanks",),
    # a poll as sent, fitted to one segment (bot/channels/poll_message.py)
    ("poll_send.message",),
    ("poll_send.message_many",),
    # a poll's outcome to who answered; a budget item's progress is in LONGER
    ("poll_results.final",),
    ("budget.final",),
    # an appeal: asked, its name refused, registered; what cannot be one; the clock's notice
    ("appeal.intro", "appeal.name_prompt"),
    ("appeal.address_prompt",),
    ("appeal.registered",),
    ("appeal.already",),
    ("appeal.not_found",),
    ("appeal.no_wish",),
    ("appeal.change_only",),
    ("appeal.anonymous",),
    ("appeal.place_first",),
    ("appeal.overdue_notice",),
    ("appeal.due_soon",),
    ("appeal.due_left",),
    ("appeal.due_today",),
    ("appeal.overdue_staff",),
]

# What cannot fit one segment: how many it takes at most, and why (checked both ways, so that
# an entry which comes to fit fewer is taken off the list or lowered).
LONGER: dict[tuple[str, ...], tuple[int, str]] = {
    ("bribe.codes",): (2, "ten services, each a code and a name a resident recognises"),
    ("wish.codes",): (2, "thirteen topics, each a code and a name"),
    ("answer.how",): (2, "five statuses by number, and the form of the message, for staff"),
    ("console.link",): (2, "the console's one-time link: an address of 77 characters"),
    ("answer.notice",): (2, "carries the staff member's answer, up to 90 characters"),
    ("name.letters", "appeal.name_prompt"): (2, "an appellant's name refused, asked again"),
    ("name.one_word", "appeal.name_prompt"): (2, "an appellant's name refused, asked again"),
    ("appeal.extended_notice",): (3, "carries staff's reason for an extension, up to 120"),
    ("answer.too_long",): (2, "carries the shortened answer for the staff member to send"),
    ("mine.header", "mine.line", "mine.answer"): (2, "carries a staff answer, up to 90"),
    ("mine.header", "mine.line", "mine.line", "mine.line"): (2, "three wishes, three statuses"),
    ("announce.notice",): (3, "the municipality's name, then its words, up to 120 characters"),
    ("photo.place_first", "wish.saved", "place.hint"): (2, "the photo waits, the reference, how"),
    ("answer.unreached why=unreached.off",): (2, "tells staff what the operator must switch on"),
    ("answer.unreached why=unreached.not_configured",): (2, "names the operator's setting"),
    ("answer.unreached why=unreached.no_phone",): (2, "explains WhatsApp's 24-hour window"),
    ("place.choose_code",): (3, "three places a name fits, each with its code and full name"),
    ("invite.official",): (2, "for staff: the role, and the place's full name (up to 41)"),
    ("invite.organizer",): (2, "for an organizer: the role, and the place's full name"),
    ("invite.volunteer",): (2, "for a volunteer: the role, and the place's full name"),
    ("budget.progress",): (2, "staff's word on a funded item, cut to 80 characters"),
    ("poll.list",): (2, "three polls, each a code and the start of its question"),
    # СУРОО 412 (the sent poll's one-segment form is the sending side's): nine options,
    # each label cut to its share; three options take two segments.
    ("poll.question_single", "poll.answered"): (4, "a question and up to nine options"),
    ("poll.question_priority", "poll.answered"): (4, "a question and up to nine options"),
    ("poll.question_budget", "poll.answered"): (5, "a question, nine items and their costs"),
    ("poll.thanks", "poll.ask_age"): (2, "the answer, then five age bands by number"),
    ("poll.over_budget", "poll.kept"): (2, "two sums, and the answer that stays"),
    ("poll.thanks", "poll.ask_gender"): (2, "the answer, then three genders by number"),
    ("poll.thanks", "poll.ask_village_by_number"): (4, "the answer, then eight villages"),
    ("poll.profile_how", "poll.ask_village_by_number"): (4, "how, then eight villages"),
}

COMMAND = re.compile(r"(?<![\w/<])/[a-z]+")  # /change, not "и/или", "садик/школа" or a URL


@cache
def catalogues() -> Catalogues:
    return Catalogues()


# The catalogue messages a placeholder can be given (their SMS wordings are measured there).
VALUE_KEYS = {
    "role": [f"role.{role}" for role in ("deputy", "staff", "organizer")],
    "status": [f"status.{s}" for s in ("accepted", "in_progress", "done", "declined", "duplicate")],
    "category": [f"category.{category}" for category in wish_categories()],
    "kind": ["kind.change", "kind.great"],
}


def longest(language: str, name: str) -> Text:
    texts = [Text(key) for key in VALUE_KEYS[name]]
    return max(texts, key=lambda text: len(catalogues().text(language, text, "sms")))


@cache
def shipped_names(language: str) -> list[str]:
    """Every place's name a resident can choose, longest first (the journal's and the data's)."""
    field = f"name_{language}"
    names = {m[language] for m in facts()["municipalities"]}
    names |= {getattr(unit, field) for unit in shipped_units() if unit.kind in ("town", "aimak")}
    return sorted(names, key=len, reverse=True)


def longest_values(language: str, key: str) -> dict[str, Any]:
    """The longest value each placeholder of a message can take (a reference, a place…)."""
    places = shipped_names(language)
    letter = "x" if language == "en" else "ж"  # what staff and residents type
    return {
        "reference": "9999999",
        "of": "9999999",
        "place": places[0],
        # SMS ЖЕР with a name several places share: the best three, each with its code.
        "places": ", ".join(f"999 {name}" for name in places[:3]),
        "value": "x" * 20,
        "language": LANGUAGE_NAMES[language],  # the answer is in the language chosen
        "length": 1600,
        "limit": 1000,
        "count": 299_999,
        "threshold": 300_000,
        "percent": 100,
        "code": "X" * 32,
        "opens": day_name(date(2026, 9, 30), language),
        "closed": day_name(date(2026, 9, 30), language),
        "expected": 14,
        "age": 18,
        "role": longest(language, "role"),
        "title": "x" * 300,
        "status": longest(language, "status"),
        "topic": longest(language, "category"),
        "category": longest(language, "category"),
        "kind": longest(language, "kind"),
        "minutes": media.RECENT_MINUTES,
        "cards_change": 9999,
        "cards_great": 9999,
        "online": 9999,
        "text": letter * TEXTS.get(key, 90),  # a staff answer to an SMS resident's wish
        "answer": letter * 90,
        "short": letter * 89,
        "number": "99999-2026-9999",  # an appeal's: municipality code, year, count
        "due": day_name(date(2026, 9, 30), language),
        "reason": letter * appeals.REASON_LIMIT,
    } | OVERRIDES.get(key, {})


def poll_values(language: str, key: str) -> dict[str, Any]:
    """A poll's longest values: its code, what a resident typed for one, its question and
    options as the SMS shortens them, nine choices, a budget's sums, eight villages."""
    letter = "x" if language == "en" else "ж"
    code = "9" * (polls.CODE_SHOWN if key == "poll.unknown" else 5)
    costs = "9" * 8 if key == "poll.question_budget" else ""
    options = max(
        (
            ", ".join(
                f"{n} {letter * room}.." + (f" {costs}" if costs else "")
                for n in range(1, count + 1)
            )
            for count in range(2, 10)
            for room in [
                max(polls.LABEL_IN_SMS[0], min(polls.LABEL_IN_SMS[1],
                    polls.OPTIONS_IN_SMS // count - (len(costs) + 1 if costs else 0) - 4))
            ]
        ),
        key=len,
    )  # fmt: skip
    listed = "; ".join(
        f"99999 {letter * polls.QUESTION_IN_LIST}.." for _ in range(polls.SMS_LISTED)
    )
    return {
        "code": code,
        "question": letter * polls.QUESTION_IN_SMS + "..",
        "options": options,
        "polls": listed,
        "choices": " ".join(str(n) for n in range(1, 10)),
        "highest": 9,
        "most": 9,
        "budget": "99 999 999",
        "spent": "99 999 999",
        "villages": ", ".join(f"{n} {letter * 12}" for n in range(1, 9)),
    }


def sent_poll_values(language: str, key: str) -> dict[str, Any]:
    """A poll as the sender fits it (bot/channels/poll_message.py): the longest code, a long
    question and nine long options, made as short as they must be."""
    letter = "x" if language == "en" else "ж"
    kind = "single" if key == "poll_send.message" else "priority"
    poll = Poll(code="9" * 5, kind=kind, max_choices=9, **{f"question_{language}": letter * 300})
    options = [PollOption(position=n, **{f"label_{language}": letter * 200}) for n in range(1, 10)]
    fitted = poll_message.sms_message(poll, options, catalogues(), language)
    assert fitted.key == key
    return dict(fitted.values)


def outcome_values(language: str) -> dict[str, Any]:
    """A closed poll's or budget round's longest values in an SMS (handlers/poll_outcome.py):
    labels and staff's word cut as the notices cut them."""
    letter = "x" if language == "en" else "ж"
    return {
        "code": "9" * 5,
        "total": 999_999,
        "percent": 100,
        "label": letter * poll_results.SHORT_LABEL + "..",
        "item": letter * poll_results.SHORT_LABEL + "..",
        "numbers": " ".join(str(n) for n in range(1, 10)),
        "progress": letter * poll_outcome.PROGRESS_IN_SMS + "..",
    }


TEXTS = {"announce.notice": announce.LIMIT}  # the longest words a message carries, if not 90
# Values that are smaller for these messages than the longest anywhere.
OVERRIDES: dict[str, dict[str, Any]] = {
    # PUBLIC_BASE_URL of 40 characters, the path and a token (handlers/console_links.py)
    "console.link": {"link": "https://" + "x" * 32 + "/staff/login/" + "X" * 24},
    "bribe.flood": {"limit": 5},
    "sign.sender_limit": {"limit": 3},
    "bribe.amount_too_big": {"limit": "10 000 000"},
    "wish.flood": {"limit": flood.WISHES_PER_HOUR},
    "wish.flood_origin": {"limit": 999},
    "photo.over_limit": {"limit": media.PHOTO_LIMIT},
    "photo.first_ones": {"limit": media.PHOTO_LIMIT, "count": media.PHOTO_LIMIT},
    "photo.attached": {"count": media.PHOTO_LIMIT, "limit": media.PHOTO_LIMIT},
    "photo.with_wish": {"count": media.PHOTO_LIMIT},
    "answer.too_long": {"limit": 90, "length": 500},
    "poll.flood": {"limit": polls.ANSWERS_PER_HOUR},
    # A campaign's code: the bot makes six letters; an operator's may be longer.
    "campaign.summary": {"code": "X" * 16},
    "campaign.summary_empty": {"code": "X" * 16},
}


def message(language: str, part: str) -> Text:
    """A part of the table: a key, perhaps with catalogue messages as values ("key why=key")."""
    key, *given = part.split()
    nested = {name: Text(value) for name, _, value in (each.partition("=") for each in given)}
    values = longest_values(language, key)
    if key.startswith("poll."):
        values |= poll_values(language, key)
    if key.startswith(("poll_results.", "budget.")):
        values |= outcome_values(language)
    if key.startswith("poll_send."):
        values = sent_poll_values(language, key)
    return Text(key, values | nested)


def sms_text(language: str, parts: tuple[str, ...]) -> str:
    return " ".join(catalogues().text(language, message(language, part), "sms") for part in parts)


def keys_of(parts: tuple[str, ...]) -> set[str]:
    return {word.partition("=")[2] or word for part in parts for word in part.split()}


ALL = [*SMS_MESSAGES, *LONGER]


@pytest.mark.parametrize("parts", ALL, ids=["+".join(parts) for parts in ALL])
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sms_fits_its_segments(language: str, parts: tuple[str, ...]) -> None:
    assert all(catalogues().has(language, key) for key in keys_of(parts)), parts
    text = sms_text(language, parts)
    assert segments(text) <= LONGER.get(parts, (1, ""))[0], (len(text), text)
    if language == "en":  # English stays in GSM-7: 160 characters a segment, not 70
        assert is_gsm7(text), text
    assert COMMAND.search(text) is None, text


@pytest.mark.parametrize("parts", list(LONGER), ids=["+".join(parts) for parts in LONGER])
def test_what_takes_more_segments_does(parts: tuple[str, ...]) -> None:
    assert max(segments(sms_text(language, parts)) for language in LANGUAGES) == LONGER[parts][0]


def test_every_sms_wording_is_measured() -> None:
    """A message given an SMS wording ("sms.X") is one the channel sends: it is in the table."""
    measured = {key for parts in ALL for key in keys_of(parts)}
    measured |= {key for keys in VALUE_KEYS.values() for key in keys}
    variants = {key.removeprefix("sms.") for key in message_ids("en") if key.startswith("sms.")}
    assert variants - measured == set()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key,codes", [("bribe.codes", 10), ("wish.codes", 13)])
def test_the_code_lists_name_every_code(language: str, key: str, codes: int) -> None:
    text = catalogues().text(language, Text(key), "sms")
    assert all(f"{code} " in text for code in range(codes)), text
