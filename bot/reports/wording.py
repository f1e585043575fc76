"""Figures in words, in one language: a catalogue bound to a language (`Say`), and a count
that may be shown only as "fewer than 3" or "at least N" (bribe_stats' `Figure`). Shared by
the digest's text and its chart, and by campaign summaries."""

from __future__ import annotations

from collections.abc import Callable

from bot.reports.bribe_stats import Figure
from bot.runtime.i18n import Catalogues
from handlers.types import Text

Say = Callable[..., str]


def sayer(catalogues: Catalogues, language: str, variant: str | None = None) -> Say:
    def say(key: str, **values: object) -> str:
        return catalogues.text(language, Text(key, values), variant)

    return say


def figure(shown_as: Figure, say: Say) -> str:
    if shown_as.value is None:
        return say("stats.fewer_than_3")
    if shown_as.at_least:
        return say("stats.at_least", count=shown_as.value)
    return str(shown_as.value)
