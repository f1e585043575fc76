"""A poll as it reaches a resident: on Telegram its question, numbered options and buttons
(payloads `poll:{code}:{n}`, or `poll:{code}:pick` for a priority vote or a budget round:
the contract ANSWER routes); by SMS and WhatsApp one segment — the question shortened if
needed, options as numbers, "reply with the number"."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.channels.answers import Keyboard
from bot.channels.registration import Outgoing
from bot.channels.sms.segments import is_gsm7, segments
from bot.runtime.i18n import Catalogues
from handlers import ballots
from handlers.dates import Day
from handlers.types import Text
from storage.models import Poll, PollOption

VARIANT = "sms"  # the catalogues' short wording (bot/channels/sms/channel.py)
MIN_QUESTION = 12  # characters of the question kept before the options are shortened


def _how(poll: Poll) -> Text:
    """What to do: choose one, up to N, or items within the budget."""
    if poll.kind == "budget":
        return Text("poll_send.how_budget", {"total": ballots.som(poll.budget_total or 0)})
    if poll.kind == "priority":
        return Text("poll_send.how_priority", {"count": poll.max_choices})
    return Text("poll_send.how_single")


def _option_line(option: PollOption, language: str) -> str:
    line = f"{option.position}. {option.label(language)}"
    if option.cost is not None:
        som = "som" if language == "en" else "сом"
        line += f" — {ballots.som(option.cost)} {som}"
    return line


def keyboard(
    poll: Poll, options: Sequence[PollOption], catalogues: Catalogues, language: str
) -> Keyboard:
    """One button per option of a single choice; one "Choose" for the others."""
    if poll.kind == "single":
        return tuple(
            ((f"{o.position}. {o.label(language)}"[:64], f"poll:{poll.code}:{o.position}"),)
            for o in options
        )
    return (((catalogues.text(language, Text("poll_send.pick")), f"poll:{poll.code}:pick"),),)


def telegram_message(
    poll: Poll, options: Sequence[PollOption], catalogues: Catalogues, language: str, zone: str
) -> Outgoing:
    closes = ballots.last_day(poll, zone)
    values: dict[str, object] = {
        "code": poll.code,
        "question": poll.question(language),
        "options": "\n".join(_option_line(o, language) for o in options),
        "how": _how(poll),
        "closes": Day(closes, language),
    }
    return Outgoing(
        message=Text("poll_send.message", values),
        keyboard=keyboard(poll, options, catalogues, language),
    )


def _cut(text: str, length: int) -> str:
    """The text cut to `length` characters, marked as cut ("…" only where it costs no
    GSM-7: an English text would turn UCS-2 for it)."""
    if len(text) <= length:
        return text
    if length <= 0:
        return ""
    mark = "…" if not is_gsm7(text) else "."
    return text[: max(length - 1, 0)].rstrip() + mark


def _sms_values(
    poll: Poll, options: Sequence[PollOption], language: str, question: int, label: int
) -> dict[str, object]:
    labels = [_cut(o.label(language), label) for o in options]
    shown = " ".join(
        f"{o.position}-{text}" if text else str(o.position)
        for o, text in zip(options, labels, strict=True)
    )
    return {
        "code": poll.code,
        "question": _cut(poll.question(language), question),
        "options": shown,
        "count": poll.max_choices,
    }


def sms_key(poll: Poll) -> str:
    """The SMS wording: one number, or several (a priority vote, a budget round)."""
    return "poll_send.message" if poll.kind == "single" else "poll_send.message_many"


def sms_message(
    poll: Poll, options: Sequence[PollOption], catalogues: Catalogues, language: str
) -> Text:
    """The poll in one SMS segment where it can be made to fit: the whole question and
    labels if they fit; else the question shortened (to MIN_QUESTION at least), then the
    labels too, down to the bare numbers; then the question to nothing."""
    key = sms_key(poll)

    def fits(question: int, label: int) -> bool:
        values = _sms_values(poll, options, language, question, label)
        return segments(catalogues.text(language, Text(key, values), VARIANT)) <= 1

    full_question = len(poll.question(language))
    full_label = max((len(o.label(language)) for o in options), default=0)
    if fits(full_question, full_label):
        return Text(key, _sms_values(poll, options, language, full_question, full_label))
    floor = min(MIN_QUESTION, full_question)
    if fits(floor, full_label):
        question = _longest(lambda q: fits(q, full_label), floor, full_question)
        return Text(key, _sms_values(poll, options, language, question, full_label))
    if fits(floor, 0):
        label = _longest(lambda n: fits(floor, n), 0, full_label)
        return Text(key, _sms_values(poll, options, language, floor, label))
    question = _longest(lambda q: fits(q, 0), 0, floor) if fits(0, 0) else 0
    return Text(key, _sms_values(poll, options, language, question, 0))  # over one, if must


def _longest(fits: Callable[[int], bool], low: int, high: int) -> int:
    """The largest n in [low, high] with fits(n), given fits(low) (fits grows as n falls)."""
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def sms_text(
    poll: Poll, options: Sequence[PollOption], catalogues: Catalogues, language: str
) -> str:
    return catalogues.text(language, sms_message(poll, options, catalogues, language), VARIANT)


def sms_segments(
    poll: Poll, options: Sequence[PollOption], catalogues: Catalogues, language: str
) -> int:
    return segments(sms_text(poll, options, catalogues, language))


def segments_of(catalogues: Catalogues) -> Callable[[Poll, Sequence[PollOption], str], int]:
    """sms_segments with these catalogues: what a poll's cost preview counts
    (handlers/poll_costs.py preview)."""
    return lambda poll, options, language: sms_segments(poll, options, catalogues, language)
