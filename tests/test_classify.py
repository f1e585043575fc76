"""The topic of an SMS wish: a code in front of the text, or the words of the text itself
(storage/category_words.yaml), tried on texts as residents write them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import classify
from handlers.classify import category_of, confident_category, split_code
from handlers.validation import fold
from storage.domain import category_words, wish_categories

# (text, the topic a deputy reading it would file it under)
TEXTS = [
    # Kyrgyz, with and without the Kyrgyz letters
    ("Биздин айылда ичүүчү суу жок, кран иштебейт", "drinking_water"),
    ("Кудуктан суу алып жатабыз, водопровод керек", "drinking_water"),
    ("Сугат суусу талаага жетпей жатат, арык бузулган", "irrigation_water"),
    ("Таштанды чыгарылбайт, бир айдан бери", "garbage"),
    ("Базардын жанында акыр-чикир көп", "garbage"),
    ("Ленин көчөсүндөгү жолдо чуңкурлар көп", "roads"),
    ("Копуро бузулган, жол жабык", "roads"),
    ("Кечинде көчөдө жарык жок, караңгы", "street_lighting"),
    ("Бала бакчада орун жетишпейт", "kindergartens"),
    ("Мектепке жаңы мугалим керек", "schools"),
    ("Жаштар үчүн спорт аянтча курулса", "culture_leisure"),
    ("Айылда жумуш жок, жаштар кетип жатат", "jobs"),
    ("ФАПта дарыгер жок, дарыкана алыс", "health"),
    ("Бюджет кайда кетти? Отчет жарыялансын", "budget_info"),
    # Russian
    ("Нет питьевой воды уже неделю", "drinking_water"),
    ("Колонка на нашей улице сломана", "drinking_water"),
    ("Не хватает поливной воды, арык засорен", "irrigation_water"),
    ("Мусор не вывозят, свалка у реки", "garbage"),
    ("На дороге огромные ямы, асфальт разбит", "roads"),
    ("Не горят фонари, на улице темно", "street_lighting"),
    ("В детский сад очередь на два года", "kindergartens"),
    ("В школе нет учителя математики", "schools"),
    ("Нужен парк и детская площадка", "culture_leisure"),
    ("Молодёжи негде работать, нет работы", "jobs"),
    ("В больнице нет лекарств, врач приходит раз в неделю", "health"),
    ("Опубликуйте отчёт о расходах бюджета", "budget_info"),
    ("Молодежный центр для подростков", "youth"),
    # English
    ("No drinking water in the village since Monday", "drinking_water"),
    ("The irrigation canal is blocked", "irrigation_water"),
    ("Garbage is not collected, the dump smells", "garbage"),
    ("Potholes everywhere on the main road", "roads"),
    ("Street lights are off, it is dark at night", "street_lighting"),
    ("Our kindergarten needs a new roof", "kindergartens"),
    ("The school has no heating", "schools"),
    ("Please publish the budget and the spending", "budget_info"),
    # Nothing to go by
    ("Рахмат!", "other"),
    ("Спасибо за всё", "other"),
    ("Thank you very much", "other"),
]


@pytest.mark.parametrize("text,expected", TEXTS)
def test_the_words_of_a_text_name_its_topic(text: str, expected: str) -> None:
    assert category_of(text) == expected


def test_every_topic_has_words_in_every_language() -> None:
    words = category_words()
    for category in wish_categories():
        if category == "other":
            assert category not in words
            continue
        assert set(words[category]) == {"ky", "ru", "en"}, category
        assert all(words[category][language] for language in ("ky", "ru", "en")), category


def test_every_topic_is_found_by_some_text() -> None:
    assert {expected for _, expected in TEXTS} == set(wish_categories())


@pytest.mark.parametrize(
    "text,expected",
    [
        ("4 Жол начар", ("roads", "Жол начар")),
        ("12. Бюджет", ("budget_info", "Бюджет")),
        ("0 Салам", ("other", "Салам")),
        ("4", ("roads", "")),
        ("35 new lamps", (None, "35 new lamps")),  # no topic 35
        ("2024-жылы жол салынган", (None, "2024-жылы жол салынган")),
        ("Жол 4 жылдан бери начар", (None, "Жол 4 жылдан бери начар")),
    ],
)
def test_a_leading_code_names_the_topic(text: str, expected: tuple[str | None, str]) -> None:
    assert split_code(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Мусор не вывозят две недели", "garbage"),
        ("Салам, көчөдө жарык жок", "street_lighting"),
        ("The road near the school is broken", None),  # roads and schools, one word each
        ("Рахмат!", None),  # no topic's word
    ],
)
def test_a_topic_is_named_to_the_resident_only_when_clear(text: str, expected: str | None) -> None:
    """The question about a text with no keyword names its topic only when one topic has
    more of its words than any other (handlers/free_text.py)."""
    assert confident_category(text) == expected


ALL_WORDS = sorted({w for by in category_words().values() for ws in by.values() for w in ws})
_PIECES = st.one_of(
    st.sampled_from(ALL_WORDS),
    st.sampled_from(ALL_WORDS).map(lambda word: word[: max(1, len(word) // 2)]),  # a word cut
    st.text(alphabet="  \t\n,.-ӨөҮүҢңЁёabc1", max_size=3),  # spaces, signs, letters between
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_a_word_is_counted_exactly_when_its_pattern_is_found(text: str) -> None:
    """The counts skip the search of a word whose first part is not in the text
    (handlers/classify.py `_counts`): they are those of every pattern searched."""
    folded = fold(text)
    searched = {
        category: sum(1 for word in words if word.pattern.search(folded))
        for category, words in classify._patterns().items()
    }
    assert classify._counts(text) == searched


def test_a_word_of_several_parts_is_found_across_any_spaces_and_only_at_a_words_start() -> None:
    assert category_of("There is no \n  water since Monday") == "drinking_water"
    assert category_of("There is piano water") == "other"  # "no" inside a word is not "no"
