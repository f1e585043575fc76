"""Days as the bot writes them: Babel's long form ("16 января 2027 г.", "January 16, 2027"),
and in Kyrgyz the case the sentence needs. A catalogue names the case in the placeholder's
format spec — "{closes:dative} чейин" gives "16-январга чейин", "{opens:locative} башталат"
gives "20-декабрда башталат" — so the other languages keep the plain "{closes}"."""

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
