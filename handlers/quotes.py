"""Choosing a few wishes to quote to officials and organizers (digests, a campaign's
tally): phone numbers and the like taken out, short, as many topics as there are, and in
the reader's language first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from handlers.scrub import scrub
from handlers.validation import script_language
from storage.models import Wish

MAX_QUOTES = 5
MIN_QUOTES = 3
QUOTE_LENGTH = 200  # characters; longer texts are cut at a word


@dataclass(frozen=True)
class Quote:
    kind: str
    category: str
    text: str
    reference: str
    script: str | None = None  # "ky", "en", or None (Cyrillic: Kyrgyz or Russian)

    def fits(self, language: str) -> int:
        """How well the quote suits a reader of `language`: 2 written in it, 1 perhaps
        (Cyrillic without Kyrgyz letters, for a Kyrgyz or Russian reader), 0 not."""
        if self.script == language:
            return 2
        return 1 if self.script is None and language in ("ky", "ru") else 0


def quotable(wishes: Iterable[Wish]) -> list[Quote]:
    """The wishes that may be quoted, newest first: not hidden by staff, more than one word
    (of letters) once phone numbers and the like are taken out."""
    quotes = []
    for wish in sorted(wishes, key=lambda w: (w.created_at, w.id), reverse=True):
        if wish.hidden:  # staff hid it: abusive, never quoted
            continue
        text = " ".join(scrub(wish.text).split())
        if sum(1 for word in text.split() if any(char.isalpha() for char in word)) > 1:
            script = script_language(text)
            quotes.append(Quote(wish.kind, wish.category, shorten(text), wish.reference, script))
    return quotes


def choose_quotes(
    quotes: list[Quote], language: str, most: int = MAX_QUOTES, least: int = MIN_QUOTES
) -> list[Quote]:
    """`least` to `most` quotes, as many topics as there are: one from each topic in turn
    (the busiest first), then another round while fewer than `least`; within a topic the
    newest in the reader's language first."""
    by_category: dict[tuple[str, str], list[Quote]] = {}
    for quote in sorted(quotes, key=lambda q: -q.fits(language)):  # stable: newest first
        by_category.setdefault((quote.category, quote.kind), []).append(quote)
    queues = sorted(by_category.values(), key=len, reverse=True)
    chosen: list[Quote] = []
    for round_number in range(most):
        for queue in queues:
            if len(chosen) == most or (round_number and len(chosen) >= least):
                break
            if round_number < len(queue):
                chosen.append(queue[round_number])
    return chosen


def shorten(text: str, limit: int = QUOTE_LENGTH) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def sms_cut(text: str, limit: int) -> str:
    """Shortened for an SMS: ".." for the ellipsis, which would take an English SMS out of
    GSM-7 (160 characters a segment) into UCS-2 (70)."""
    return shorten(text, limit).replace("…", "..")
