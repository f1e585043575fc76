"""A wish's topic from an SMS: a topic code in front of the text (ӨЗГӨРТ 4 <text>), or else
the topic the text's own words name (storage/category_words.yaml); "other" when nothing does.
Staff can change a topic later; this only keeps the digest's biggest topic from being
"other" for every wish that came by SMS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from handlers.validation import fold
from storage.domain import category_words, wish_categories, wish_category_codes

OTHER = "other"
_CODE = re.compile(r"^\s*(\d{1,2})[.):]?(?:\s+|$)")


def split_code(text: str) -> tuple[str | None, str]:
    """(the topic a leading code names, the rest); (None, text) when it names none."""
    found = _CODE.match(text)
    if found is None:
        return None, text
    category = wish_category_codes().get(int(found.group(1)))
    if category is None:
        return None, text
    return category, text[found.end() :].strip()


def category_of(text: str) -> str:
    """The topic with the most different words of it in the text; ties go to the topic
    listed first; "other" when no word is found."""
    best, best_count = OTHER, 0
    for category, count in _counts(text).items():
        if count > best_count:
            best, best_count = category, count
    return best


def confident_category(text: str) -> str | None:
    """The topic the text's words name more than any other (worth saying to the resident
    before they confirm); None when no topic's word is found, or two topics tie."""
    counts = sorted(_counts(text).values(), reverse=True)
    if not counts or counts[0] == 0 or (len(counts) > 1 and counts[1] == counts[0]):
        return None
    return category_of(text)


def _counts(text: str) -> dict[str, int]:
    """How many different words of each topic (in domain order) the text has. A word's
    pattern is searched only if the word's first part is in the text at all: a substring
    test costs a fraction of a regex search, and most of the 216 words are absent from any
    one text (120–150 µs a text searched with every pattern, a tenth of an SMS wish's work)."""
    folded = fold(text)
    return {
        category: sum(1 for word in words if word.head in folded and word.pattern.search(folded))
        for category, words in _patterns().items()
    }


@dataclass(frozen=True, slots=True)
class _Word:
    head: str  # its first part, which any text the pattern matches contains
    pattern: re.Pattern[str]  # the word at the start of a word, its parts by any spaces


@cache
def _patterns() -> dict[str, list[_Word]]:
    """Each topic's words as patterns that match at the start of a word, in domain order."""
    words = category_words()
    patterns = {}
    for category in wish_categories():
        if category == OTHER:
            continue
        # Folded, two spellings of one word (молодёж, молодеж) are one word.
        folded = {fold(word) for entries in words[category].values() for word in entries}
        patterns[category] = [_word(word) for word in sorted(folded)]
    return patterns


def _word(word: str) -> _Word:
    parts = word.split()
    return _Word(parts[0], re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, parts))))
