"""Every user-facing string exists in ky, ru and en, with the same placeholders, and the
wording from domain.yaml is used where it gives one."""

from __future__ import annotations

import ast
import functools
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.runtime.i18n import LOCALES_DIR, Catalogues
from handlers.roles import ROLE_COMMANDS, menu
from handlers.router import COMMANDS, INFO_COMMANDS
from handlers.types import Text
from storage.domain import LANGUAGES, facts

ROOT = Path(__file__).resolve().parent.parent
# The same in every language by nature (brand names), or in Kyrgyz and Russian alike.
SAME_EVERYWHERE = {
    "channel.telegram",
    "channel.sms",
    "channel.whatsapp",
    "sign.summary",
    "campaign.quote",
    # Layouts of values that are themselves translated (statuses, topics, staff's words).
    "inbox.line",
    "mine.line",
    "mine.answer",
    "sms.answer.notice",
    "sms.answer.notice_bare",
    "sms.mine.line",
    "sms.mine.answer",
    "sms.announce.notice",
}
SAME_IN_KY_AND_RU = {
    "bribe.amount_value",
    "digest.reference",
    "inbox.topic_button",
    "channel.web",
}


@functools.cache
def read_catalogue(language: str) -> Catalog:
    """The catalogue as Babel reads it (read once; the tests only look)."""
    with (LOCALES_DIR / language / "LC_MESSAGES" / "civicbot.po").open("rb") as handle:
        return read_po(handle)


def message_ids(language: str) -> list[str]:
    """The keys, in the file's order (a plural entry's msgid, without its counted value)."""
    return [key_of(m) for m in read_catalogue(language) if m.id]


def key_of(message: Message) -> str:
    return str(message.id[0]) if message.pluralizable else str(message.id)


def texts_of(message: Message) -> list[str]:
    """A message's texts: its one text, or each of its plural forms."""
    string = message.string
    return [str(s) for s in string] if isinstance(string, tuple | list) else [str(string)]


def forms(language: str, key: str) -> list[str]:
    message = read_catalogue(language)[key]
    assert message is not None, key
    return texts_of(message)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def all_placeholders(language: str, key: str) -> set[str]:
    return set().union(*(placeholders(form) for form in forms(language, key)))


def keys_used_in_code() -> set[str]:
    """Literal keys given to Text(...) and say(...) anywhere in the code (both branches of a
    conditional key count)."""
    keys = set()
    for path in [*ROOT.glob("handlers/*.py"), *ROOT.glob("bot/**/*.py")]:  # every package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) in {"Text", "say"}
                and node.args
            ):
                keys |= literal_keys(node.args[0])
    return keys


def literal_keys(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return literal_keys(node.body) | literal_keys(node.orelse)
    return set()  # keys built at run time (f"kind.{…}") are checked from their sources


def test_all_languages_have_the_same_messages() -> None:
    """The same keys in the same order, and a plural entry counts the same value in each."""
    ids = {language: [m.id for m in read_catalogue(language) if m.id] for language in LANGUAGES}
    assert ids["ky"] == ids["ru"] == ids["en"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_code_uses_is_translated(language: str) -> None:
    catalogues = Catalogues()
    needed = keys_used_in_code()
    needed |= {f"kind.{k['key']}" for k in facts()["wish_kinds"]}
    needed |= {f"category.{c['key']}" for c in facts()["wish_categories"]}
    needed |= {f"command.{name}" for name in menu(tuple(ROLE_COMMANDS))}
    needed |= {f"help.{role}" for role in ROLE_COMMANDS}
    needed |= {f"wish.text_missing.{k['key']}" for k in facts()["wish_kinds"]}
    needed |= {f"service.{s['code']}" for s in facts()["bribe_service_types"]}
    needed |= {"outcome.paid", "outcome.refused", "outcome.not_asked", "outcome.asked"}
    needed |= {f"initiative.window.{state}" for state in ("not_yet", "open", "closed")}
    needed |= {f"role.{role}" for role in ("deputy", "staff", "organizer", "initiator")}
    needed |= {f"invite.{role}" for role in ("organizer", "volunteer")}
    assert len(needed) > 40
    missing = sorted(key for key in needed if not catalogues.has(language, key))
    assert missing == []


def test_channel_variants_shorten_existing_messages() -> None:
    """An "sms.X" message is another wording of X, with no placeholder X does not have."""
    catalogues = Catalogues()
    variants = [key for key in message_ids("en") if key.startswith("sms.")]
    assert "sms.wish.saved" in variants
    for key in variants:
        base = key.removeprefix("sms.")
        for language in LANGUAGES:
            assert catalogues.has(language, base), key
            assert all_placeholders(language, key) <= all_placeholders(language, base), (
                key,
                language,
            )


def test_every_roles_menu_lists_only_commands_that_exist() -> None:
    every = menu(tuple(ROLE_COMMANDS))
    assert len(every) == len(set(every)) <= 100  # Telegram's limit for one menu
    assert set(every) <= set(COMMANDS) | set(INFO_COMMANDS)


def test_translations_differ_and_keep_their_placeholders() -> None:
    catalogues = Catalogues()
    for key in message_ids("en"):
        texts = {lang: catalogues.translations[lang].gettext(key) for lang in LANGUAGES}
        assert all(texts.values()), key
        named = [all_placeholders(language, key) for language in LANGUAGES]
        assert named[0] == named[1] == named[2], key
        if key in SAME_IN_KY_AND_RU:
            assert texts["ky"] == texts["ru"] != texts["en"], key
        elif key not in SAME_EVERYWHERE:
            assert len(set(texts.values())) == 3, f"{key} is not translated: {texts}"


# Each language's plural rule, as gettext writes it: Kyrgyz nouns do not change after a
# number, English has one and other, Russian one (1, 21), few (2–4, 22–24) and many.
PLURAL_FORMS = {
    "ky": "nplurals=1; plural=0;",
    "ru": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
    "(n%100<10 || n%100>=20) ? 1 : 2);",
    "en": "nplurals=2; plural=(n != 1);",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_entries_fill_every_form_of_their_language(language: str) -> None:
    """The header's Plural-Forms is the language's rule; every plural entry has each of its
    forms, filled, all naming the same values, the counted one among them."""
    catalogue = read_catalogue(language)
    assert catalogue.plural_forms == PLURAL_FORMS[language]
    plurals = [m for m in catalogue if m.pluralizable]
    assert len(plurals) > 30
    for message in plurals:
        key, counted = key_of(message), str(message.id[1])
        texts = texts_of(message)
        assert len(texts) == catalogue.num_plurals, key
        assert all(text.strip() for text in texts), key
        assert all(placeholders(text) == placeholders(texts[0]) for text in texts), key
        assert counted in placeholders(texts[0]), key


# A number followed by one of these words is not counting a noun ("5 из 10", "card 3 saved").
NOT_NOUNS = {"из", "of", "is", "this", "saved", "сохранена"}
NUMBERS = re.compile(
    r"\{(count|limit|length|days|minutes|weeks|total|age|expected|threshold|amount|week|year"
    r"|cards|online|people|page|pages)\} (\w+)"
)


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_number_before_a_noun_has_plural_forms(language: str) -> None:
    """Where a count is followed by its noun ("{count} жителей"), the entry has plural forms
    (as labels, "пожеланий: {count}", need none)."""
    singular = [m for m in read_catalogue(language) if m.id and not m.pluralizable]
    found = [
        (key_of(m), match.group(0))
        for m in singular
        for text in texts_of(m)
        for match in NUMBERS.finditer(text)
        if match.group(2) not in NOT_NOUNS
    ]
    assert found == []


# Russian: 1 and 21 take the "one" form, 2 the "few", 5 and 11 the "many".
RUSSIAN_FORMS = [
    ("announce.sent", "count", ["1 житель получит", "2 жителя получат", "5 жителей получат",
                                "11 жителей получат", "21 житель получит"]),
    ("announce.preview", "count", ["получит 1 житель", "получат 2 жителя", "получат 5 жителей",
                                   "получат 11 жителей", "получит 21 житель"]),
    ("card.nothing_to_undo", "minutes", ["последнюю 1 минуту", "последние 2 минуты",
                                         "последние 5 минут", "последние 11 минут",
                                         "последнюю 21 минуту"]),
    ("campaign.volunteer_invite", "days", ["1 день", "2 дня", "5 дней", "11 дней", "21 день"]),
    ("wish.text_prompt", "limit", ["до 1 знака", "до 2 знаков", "до 5 знаков", "до 11 знаков",
                                   "до 21 знака"]),
    ("pin.under_age", "age", ["нет 1 года", "нет 2 лет", "нет 5 лет", "нет 11 лет",
                              "нет 21 года"]),
    ("bribe.amount_too_big", "limit", ["1 сома", "2 сомов", "5 сомов", "11 сомов", "21 сома"]),
]  # fmt: skip


@pytest.mark.parametrize("key,counted,expected", RUSSIAN_FORMS)
def test_russian_counts_take_their_plural_form(key: str, counted: str, expected: list[str]) -> None:
    catalogues = Catalogues()
    values = {name: "x" for name in all_placeholders("ru", key)}
    for number, phrase in zip((1, 2, 5, 11, 21), expected, strict=True):
        rendered = catalogues.text("ru", Text(key, {**values, counted: number}))
        assert phrase in rendered, (number, rendered)


def test_english_has_two_forms_kyrgyz_one_and_any_written_count_is_counted() -> None:
    catalogues = Catalogues()
    sent = [catalogues.text("en", Text("announce.sent", {"count": n})) for n in (1, 2, 0)]
    assert [text.split(" will")[0] for text in sent] == [
        "Sent: 1 resident",
        "Sent: 2 residents",
        "Sent: 0 residents",
    ]
    kyrgyz = [catalogues.text("ky", Text("announce.sent", {"count": n})) for n in (1, 2, 5)]
    assert [text.replace(str(n), "#") for text, n in zip(kyrgyz, (1, 2, 5), strict=True)] == [
        "Жөнөтүлдү: # тургунга өз каналы аркылуу барат."
    ] * 3
    # Amounts are written "1 000 000": the form follows the number.
    assert catalogues.text("ru", Text("bribe.amount_value", {"amount": "1 000 001"})) == (
        "1 000 001 сом"
    )
    assert catalogues.text("ru", Text("bribe.amount_value", {"amount": 3})) == "3 сома"
    assert catalogues.text("en", Text("announce.weeks", {"weeks": 1})) == "1 week"
    # A nested counted message: the preview's weeks are "4 weeks" of their own.
    preview = Text(
        "announce.preview",
        {
            "count": 1,
            "topic": "Roads",
            "text": "Done",
            "weeks": Text("announce.weeks", {"weeks": 4}),
        },
    )
    assert catalogues.text("en", preview).startswith("1 resident («Roads», last 4 weeks)")
    # The SMS variant of a plural message is found and counted by its own value.
    sms = Text("error.too_long", {"length": 1, "limit": 21})
    assert catalogues.text("ru", sms).startswith("Текст слишком длинный: 1 знак,")
    assert catalogues.text("ru", sms, variant="sms").endswith("максимум 21 знак.")


@pytest.mark.parametrize(
    "section,prefix", [("wish_categories", "category"), ("wish_kinds", "kind")]
)
def test_domain_wording_is_the_catalogue_wording(section: str, prefix: str) -> None:
    catalogues = Catalogues()
    for entry in facts()[section]:
        for language in LANGUAGES:
            translated = catalogues.translations[language].gettext(f"{prefix}.{entry['key']}")
            assert translated == entry[language]


def test_kyrgyz_is_written_in_kyrgyz() -> None:
    """Kyrgyz letters (ө, ү, ң) appear throughout the Kyrgyz catalogue, not Russian text."""
    catalogues = Catalogues()
    long_texts = [
        catalogues.translations["ky"].gettext(key)
        for key in message_ids("ky")
        if len(catalogues.translations["en"].gettext(key)) > 60
    ]
    with_kyrgyz_letters = [t for t in long_texts if set(t.lower()) & set("өүң")]
    assert len(with_kyrgyz_letters) == len(long_texts)


def test_every_name_in_the_domain_facts_is_whole() -> None:
    """An unquoted comma in a YAML flow mapping cuts a name short and makes a stray key
    ("Клуб, эс алуу жайлары" became "Клуб"): every entry keeps only its own keys, each with
    a value, and names the three languages in full."""
    broken = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None:
                    broken.append(f"{where}: {key!r} has no value")
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(facts(), "domain")
    assert broken == []
    for section in ("wish_categories", "regions", "municipalities", "wish_kinds"):
        for entry in facts()[section]:
            names = [entry.get(language) for language in LANGUAGES]
            assert all(isinstance(name, str) and name.strip() for name in names), entry
    leisure = next(c for c in facts()["wish_categories"] if c["key"] == "culture_leisure")
    assert (leisure["ky"], leisure["en"]) == ("Клуб, эс алуу жайлары", "Club, parks and leisure")


# Variants the glossary and the seed journal's own usage rule out, so they do not come back.
FORBIDDEN = {
    "ky": [
        "ойуңуз",  # оюңуз; for a wish, тилегиңиз
        "жумалык",  # апталык, as the digest itself says
        "ар жума",
        "жашыруун",  # one word for anonymous everywhere: аноним
        "муниципалитетке",  # айыл өкмөтүнө же мэрияга
        "муниципалитеттин",
        "түрлөрү боюнча",  # the chart's bars are topics: темалар боюнча
        "жоопторуңуз",
        "колуңузду текшериңиз",
        "(sms)",
        "январь чейин",  # a date before чейин is in the dative: 16-январга чейин
    ],
    "ru": [
        "отзыв ",  # a wish is «пожелание» everywhere
        "отзывы",
        "отзывов",
        "подпись за «",  # «подпись под инициативой «…»»
        "подписи за инициатив",
        "(sms)",
    ],
}


@pytest.mark.parametrize("language", ["ky", "ru"])
def test_no_forbidden_variant_and_no_latin_letter_inside_a_cyrillic_word(language: str) -> None:
    catalogues = Catalogues()
    texts = {key: catalogues.translations[language].gettext(key) for key in message_ids(language)}
    found = [
        (key, variant)
        for key, text in texts.items()
        for variant in FORBIDDEN[language]
        if variant in text.casefold()
    ]
    assert found == []
    mixed = [
        (key, word)
        for key, text in texts.items()
        for word in re.findall(r"\w+", re.sub(r"\{[^}]*\}", " ", text))
        if re.search(r"[a-zA-Z]", word) and re.search(r"[\u0400-\u04ff]", word)
    ]
    assert mixed == []


def test_a_date_is_declined_where_kyrgyz_needs_it() -> None:
    import datetime as dt

    from handlers.dates import Day
    from handlers.types import Text

    catalogues = Catalogues()
    closes, opens = Day(dt.date(2027, 1, 16), "ky"), Day(dt.date(2026, 12, 20), "ky")
    progress = catalogues.text(
        "ky", Text("sign.progress", {"count": 1, "threshold": 10, "closes": closes, "days": 9})
    )
    assert "16-январга чейин" in progress
    assert "20-декабрда башталат" in catalogues.text(
        "ky", Text("sign.not_yet", {"title": "Суу", "opens": opens})
    )
    assert "9-августта бүттү" in catalogues.text(
        "ky",
        Text("sign.closed", {"title": "Суу", "closed": Day(dt.date(2026, 8, 9), "ky"), "count": 3}),
    )
    # The other languages keep Babel's long form.
    assert "16 января 2027" in catalogues.text(
        "ru",
        Text(
            "sign.progress",
            {"count": 1, "threshold": 10, "closes": Day(closes.day, "ru"), "days": 9},
        ),
    )


def test_catalogues_are_compiled_once_and_again_when_a_file_changes(tmp_path: Path) -> None:
    """Every runtime a test starts builds Catalogues: a file read and compiled once serves
    them all, and an edited file is read again."""
    for language in LANGUAGES:
        folder = tmp_path / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "civicbot.po").write_text(f'msgid "hello"\nmsgstr "hello {language}"\n')
    first, second = Catalogues(tmp_path), Catalogues(tmp_path)
    assert first.translations["ky"] is second.translations["ky"]

    edited = tmp_path / "ky" / "LC_MESSAGES" / "civicbot.po"
    edited.write_text('msgid "hello"\nmsgstr "салам, edited"\n')
    assert Catalogues(tmp_path).text("ky", Text("hello")) == "салам, edited"
    assert first.text("ky", Text("hello")) == "hello ky"
