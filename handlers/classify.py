"""A wish's topic from an SMS: a topic code in front of the text (ӨЗГӨРТ 4 <text>), or else
the topic the text's own words name (storage/category_words.yaml); "other" when nothing does.
Staff can change a topic later; this only keeps the digest's biggest topic from being
"other" for every wish that came by SMS."""

from __future__ import annotations

import re
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
    """How many different words of each topic (in domain order) the text has."""
    folded = fold(text)
    return {
        category: sum(1 for pattern in patterns if pattern.search(folded))
        for category, patterns in _patterns().items()
    }


@cache
def _patterns() -> dict[str, list[re.Pattern[str]]]:
    """Each topic's words as patterns that match at the start of a word, in domain order."""
    words = category_words()
    patterns = {}
    for category in wish_categories():
        if category == OTHER:
            continue
        # Folded, two spellings of one word (молодёж, молодеж) are one word.
        folded = {fold(word) for entries in words[category].values() for word in entries}
        patterns[category] = [
            re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, word.split())))
            for word in sorted(folded)
        ]
    return patterns
