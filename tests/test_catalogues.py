"""Every user-facing string exists in ky, ru and en, with the same placeholders, and the
wording from domain.yaml is used where it gives one."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from bot.runtime.i18n import LOCALES_DIR, Catalogues
from handlers.router import COMMANDS, INFO_COMMANDS, MENU
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


def message_ids(language: str) -> list[str]:
    from babel.messages.pofile import read_po

    with (LOCALES_DIR / language / "LC_MESSAGES" / "civicbot.po").open("rb") as handle:
        return [str(m.id) for m in read_po(handle) if m.id]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def keys_used_in_code() -> set[str]:
    """Literal keys given to Text(...) and say(...) anywhere in the code (both branches of a
    conditional key count)."""
    keys = set()
    for path in [*ROOT.glob("handlers/*.py"), *ROOT.glob("bot/*.py")]:
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
    ids = {language: message_ids(language) for language in LANGUAGES}
    assert ids["ky"] == ids["ru"] == ids["en"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_code_uses_is_translated(language: str) -> None:
    catalogues = Catalogues()
    needed = keys_used_in_code()
    needed |= {f"kind.{k['key']}" for k in facts()["wish_kinds"]}
    needed |= {f"category.{c['key']}" for c in facts()["wish_categories"]}
    needed |= {f"command.{name}" for name in MENU}
    needed |= {f"wish.text_missing.{k['key']}" for k in facts()["wish_kinds"]}
    needed |= {f"service.{s['code']}" for s in facts()["bribe_service_types"]}
    needed |= {"outcome.paid", "outcome.refused", "outcome.not_asked", "outcome.asked"}
    needed |= {f"initiative.window.{state}" for state in ("not_yet", "open", "closed")}
    needed |= {f"role.{role}" for role in ("deputy", "staff", "organizer", "initiator")}
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
            translations = catalogues.translations[language]
            assert catalogues.has(language, base), key
            assert placeholders(translations.gettext(key)) <= placeholders(
                translations.gettext(base)
            ), (key, language)


def test_menu_only_lists_commands_that_exist() -> None:
    assert set(MENU) <= set(COMMANDS) | set(INFO_COMMANDS)


def test_translations_differ_and_keep_their_placeholders() -> None:
    catalogues = Catalogues()
    for key in message_ids("en"):
        texts = {lang: catalogues.translations[lang].gettext(key) for lang in LANGUAGES}
        assert all(texts.values()), key
        assert placeholders(texts["ky"]) == placeholders(texts["ru"]) == placeholders(texts["en"])
        if key in SAME_IN_KY_AND_RU:
            assert texts["ky"] == texts["ru"] != texts["en"], key
        elif key not in SAME_EVERYWHERE:
            assert len(set(texts.values())) == 3, f"{key} is not translated: {texts}"


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
