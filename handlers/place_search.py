"""Finding a municipality by what a resident types: its name in Kyrgyz, Russian or English,
whole or the start of it, in any case, with or without ң ө ү (phones without a Kyrgyz keyboard
write н о у) and with or without the hyphen or the word for "town"."""

from __future__ import annotations

import re
from collections.abc import Iterable

from handlers.validation import fold
from storage.models import Municipality

# Words that say what kind of place it is, not which: "Нарын шаары" is found by "Нарын".
TOWN_WORDS = ("шаары", "шаар", "город", "г", "city", "town")
AREA_WORDS = ("району", "район", "district", "айыл", "айылдык", "аймагы", "аймак", "айыльный")
KIND_WORDS = frozenset((*TOWN_WORDS, *AREA_WORDS))
WORD = re.compile(r"[^\W_]+")
SHORTEST_QUERY = 2
WHOLE_WORDS = 2  # the score of a name with every word of the query in it, whole


def words(text: str) -> list[str]:
    """The words of a name or a query, lower case, plain letters, no kind words."""
    found = WORD.findall(fold(text))
    return [word for word in found if word not in KIND_WORDS]


def best_matches(places: Iterable[Municipality], query: str, limit: int) -> list[Municipality]:
    """The places whose name fits the query best, at most `limit`."""
    return [place for _, place in ranked(places, query)[:limit]]


def ranked(places: Iterable[Municipality], query: str) -> list[tuple[int, Municipality]]:
    """The places the query fits, with how well, best first; none for a query too short to
    tell places apart."""
    wanted = words(query)
    if len("".join(wanted)) < SHORTEST_QUERY:
        return []
    scored = [(score, place) for place in places if (score := _score(place, query)) > 0]
    scored.sort(key=lambda found: (-found[0], found[1].code))
    return scored


def _score(place: Municipality, query: str) -> int:
    """4: the name as written; 3: the name in plain letters; 2: every word whole; 1: every
    word the start of one; 0: no. ("Каракол" is Karakol's name as written, and Kara-Köl's
    (Каракөл) in plain letters.)"""
    wanted, asked = words(query), "".join(words(query))
    best = 0
    for name in (place.name_ky, place.name_ru, place.name_en, place.key.replace("_", " ")):
        have = words(name)
        joined = "".join(have)
        if joined == asked:
            return 4 if _as_written(name) == _as_written(query) else 3
        if all(word in have for word in wanted):
            best = max(best, 2)
        elif joined.startswith(asked) or all(
            any(word.startswith(part) for word in have) for part in wanted
        ):
            best = max(best, 1)
    return best


def _as_written(text: str) -> str:
    return "".join(word for word in WORD.findall(text.lower()) if word not in KIND_WORDS)
