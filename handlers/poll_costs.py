"""What sending a poll costs in SMS, as its sender sees it before sending: messages ×
segments of the SMS form × SMS_PRICE, within the poll's SMS cap.

Billed as SMS: SMS people, and WhatsApp people where no approved template is set (outside
WhatsApp's 24 hours their poll then goes by SMS, bot/channels/sms/channel.py). The SMS form
is made to fit one segment (bot/channels/poll_message.py), so a segment is a message."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from storage.channels import PAID_PER_MESSAGE, WHATSAPP
from storage.domain import LANGUAGES
from storage.models import Poll, PollOption
from storage.queries.poll_sends import Audience

# The SMS form's segments for a poll in a language (bot/channels/poll_message.py, which the
# runtime or the command hands in: handlers do not render).
SegmentsOf = Callable[[Poll, Sequence[PollOption], str], int]


def paid_channels(whatsapp_template: bool) -> tuple[str, ...]:
    """The channels whose polls are billed as SMS."""
    return tuple(sorted(PAID_PER_MESSAGE | (set() if whatsapp_template else {WHATSAPP})))


@dataclass(frozen=True)
class Cost:
    recipients: int  # people the SMS go to (within the cap)
    over_cap: int  # people past the cap: not sent
    segments: int  # segments in all
    each: float  # som a segment (SMS_PRICE)
    price: float  # som in all

    def line(self) -> str:
        over = f"; {self.over_cap} past the SMS cap are not sent" if self.over_cap else ""
        return (
            f"SMS: {self.recipients} messages, {self.segments} segments × {self.each:.2f} som"
            f" = {_som(self.price)} som{over}"
        )


def _som(value: float) -> str:
    """12 345.50: thousands apart, as the bot writes sums."""
    return f"{value:,.2f}".replace(",", " ")


def preview(
    audience: Audience,
    poll: Poll,
    options: Sequence[PollOption],
    paid: tuple[str, ...],
    price: float,
    segments_of: SegmentsOf | None,
) -> Cost:
    """What sending the poll costs as its sender sees it before sending, the same for
    `civicbot poll send` and /poll: its SMS form's segments in each language, within the
    poll's SMS cap."""
    segments = (
        {language: segments_of(poll, options, language) for language in LANGUAGES}
        if segments_of is not None
        else None
    )
    return cost_of(audience, paid, price, poll.sms_cap, segments)


def cost_of(
    audience: Audience,
    paid: tuple[str, ...],
    price: float,
    cap: int | None,
    segments: Mapping[str, int] | None = None,
) -> Cost:
    """`segments`: the SMS form's segments by language (1 where not given). The cap keeps
    the first `cap` people (in the order they are planned), as sending does."""
    by_language: dict[str, int] = {}
    for (channel, language), count in audience.by_channel_language.items():
        if channel in paid:
            by_language[language] = by_language.get(language, 0) + count
    people = sum(by_language.values())
    kept = people if cap is None else min(people, cap)
    share = kept / people if people else 0.0
    each = segments or {}
    total = round(sum(n * each.get(language, 1) for language, n in by_language.items()) * share)
    return Cost(kept, people - kept, total, price, round(total * price, 2))
