"""Days as the bot writes them: Babel's long form ("16 января 2027 г.", "January 16, 2027"),
and in Kyrgyz the case the sentence needs. A catalogue names the case in the placeholder's
format spec — "{closes:dative} чейин" gives "16-январга чейин", "{opens:locative} башталат"
gives "20-декабрда башталат" — so the other languages keep the plain "{closes}".

A week's or a campaign's days, read that week (a digest, a poster, the public page, the
organizer's tally), are the day and month alone: "1 декабря", "1-декабрь", "1 December"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from babel.dates import format_date

# Kyrgyz month names in the dative (-га/-ка/-ге) and the locative (-да/-та/-де), by month.
KY_MONTHS = {
    "dative": (
        "январга", "февралга", "мартка", "апрелге", "майга", "июнга",
        "июлга", "августка", "сентябрга", "октябрга", "ноябрга", "декабрга",
    ),
    "locative": (
        "январда", "февралда", "мартта", "апрелде", "майда", "июнда",
        "июлда", "августта", "сентябрда", "октябрда", "ноябрда", "декабрда",
    ),
}  # fmt: skip


DAY_PATTERNS = {"ky": "d-MMMM"}  # Kyrgyz puts a hyphen between day and month


def day_month(value: date, language: str) -> str:
    """A day near today, without its year: "1 декабря", "1-декабрь", "1 December"."""
    return format_date(value, DAY_PATTERNS.get(language, "d MMMM"), locale=language)


def span(first: date, last: date, language: str) -> str:
    """The days of a campaign (or a week), first – last."""
    return f"{day_month(first, language)} – {day_month(last, language)}"


@dataclass(frozen=True)
class Day:
    day: date
    language: str

    def __str__(self) -> str:
        return format_date(self.day, "long", locale=self.language)

    def __format__(self, case: str) -> str:
        """The day in `case` ("dative", "locative") where the language declines it; the
        long form otherwise. Without the year: a signing window is a few months long."""
        if case and self.language == "ky":
            return f"{self.day.day}-{KY_MONTHS[case][self.day.month - 1]}"
        return str(self)
