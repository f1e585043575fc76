"""SMS text rules without a server: the keyword grammar and the segment counter."""

from __future__ import annotations

import pytest

from bot.channels.sms.keywords import KEYWORDS, Parsed, fold, parse
from bot.channels.sms.segments import segments


@pytest.mark.parametrize(
    "body,expected",
    [
        ("ӨЗГӨРТ Көчөдө жарык жок", Parsed("change", "Көчөдө жарык жок", "ky")),
        ("өзгөрт көчөдө жарык жок", Parsed("change", "көчөдө жарык жок", "ky")),
        ("ОЗГОРТ Көчөдө жарык жок", Parsed("change", "Көчөдө жарык жок", "ky")),
        ("ozgort kochodo jaryk jok", Parsed("change", "kochodo jaryk jok", "ky")),
        ("Изменить: нет света", Parsed("change", "нет света", "ru")),
        ("ИЗМЕНИТ нет света", Parsed("change", "нет света", "ru")),
        ("IZMENIT net sveta", Parsed("change", "net sveta", "ru")),
        ("change no light", Parsed("change", "no light", "en")),
        ("МЫКТЫ\nЖол жакшы", Parsed("great", "Жол жакшы", "ky")),
        ("ХОРОШО дорога", Parsed("great", "дорога", "ru")),
        ("ЖЕР 101", Parsed("place", "101", "ky")),
        (
            "КОЛ SUU 21505198500123 Асанов Бакыт",
            Parsed("sign", "SUU 21505198500123 Асанов Бакыт", "ky"),
        ),
        ("подпись suu 1 2", Parsed("sign", "suu 1 2", "ru")),
        ("SIGN SUU", Parsed("sign", "SUU", "en")),
        ("ЖАРДАМ КОЛ", Parsed("help", "sign", "ky")),
        ("КОШУЛ AB12CD34", Parsed("join", "AB12CD34", "ky")),
        ("ВСТУПИТЬ AB12CD34", Parsed("join", "AB12CD34", "ru")),
        ("join AB12CD34", Parsed("join", "AB12CD34", None)),
        ("МЕСТО naryn_city", Parsed("place", "naryn_city", "ru")),
        ("ТИЛ ru", Parsed("language", "ru", "ky")),
        ("ЖАРДАМ", Parsed("help", "", "ky")),
        ("Помощь", Parsed("help", "", "ru")),
        ("ОЧУР", Parsed("forget", "", "ky")),
        ("удалить", Parsed("forget", "", "ru")),
        ("СТОП", Parsed("stop", "", None)),
        ("stop", Parsed("stop", "", "en")),
        ("старт", Parsed("resume", "", None)),
        ("  ", Parsed(None, "", None)),
        ("Салам", Parsed(None, "Салам", None)),
        ("Hello there", Parsed(None, "Hello there", "en")),
        ("Көчө", Parsed(None, "Көчө", "ky")),
        ("😀😀", Parsed(None, "😀😀", None)),
    ],
)
def test_parse(body: str, expected: Parsed) -> None:
    assert parse(body) == expected


def test_no_two_keywords_fold_to_the_same_word() -> None:
    folded = [fold(s) for languages in KEYWORDS.values() for ss in languages.values() for s in ss]
    assert len(folded) == len(set(folded))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extended characters take two septets
        ("{" * 81, 2),
        ("я" * 70, 1),
        ("я" * 71, 2),
        ("я" * 134, 2),
        ("я" * 135, 3),
        ("a" * 69 + "ө", 1),  # one Kyrgyz letter makes it all UCS-2
        ("a" * 70 + "ө", 2),
        ("😀" * 35, 1),  # two UTF-16 units each
        ("😀" * 36, 2),
        ("Thank you…", 1),  # the ellipsis is not GSM-7, but it is short
        ("…" * 71, 2),
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


# Every answer the SMS channel gives, as the parts it is made of, with the longest values.
def _longest_place(language: str) -> str:
    from storage.domain import facts

    return max((m[language] for m in facts()["municipalities"]), key=len)


SMS_REPLIES = [
    ["wish.saved", "place.hint"],
    ["photo.unreachable", "wish.saved"],
    ["wish.saved", "photo.with_wish"],
    ["photo.not_with_bribe", "bribe.saved"],
    ["photo.wrong_kind"],
    ["photo.not_here"],
    ["photo.too_big"],
    ["photo.not_an_image"],
    ["location.dropped"],
    ["location.outside"],
    ["photo.sms_how"],
    ["photo.attached"],
    ["location.ask_sms"],
    ["location.sms_first"],
    ["location.attached"],
    ["help.text"],
    ["place.set"],
    ["place.unknown"],
    ["place.usage"],
    ["language.set"],
    ["language.unknown"],
    ["wish.text_missing.change"],
    ["wish.text_missing.great"],
    ["error.too_long"],
    ["error.unsupported", "hint.commands"],
    ["error.internal"],
    ["stop.done"],
    ["resume.done"],
    ["forget.done"],
    ["bribe.saved"],
    ["bribe.received"],
    ["bribe.place_first"],
    ["bribe.usage"],
    ["bribe.flood"],
    ["bribe.amount_too_big"],
    ["bribe.amount_negative"],
    ["bribe.amount_nonsense"],
    ["sign.done"],
    ["sign.usage"],
    ["sign.address_prompt"],
    ["sign.address_empty", "sign.address_prompt"],
    ["pin.odd_date", "sign.address_prompt"],
    ["pin.odd_date", "sign.done"],
    ["sign.unknown"],
    ["sign.not_yet"],
    ["sign.closed"],
    ["sign.already"],
    ["sign.disputed"],
    ["sign.flood"],
    ["sign.sender_limit"],
    ["pin.not_digits"],
    ["pin.length"],
    ["pin.first_digit"],
    ["pin.under_age"],
    ["name.letters"],
    ["name.one_word"],
    ["invite.usage"],
    ["invite.unknown"],
    ["invite.used"],
    ["invite.expired"],
    ["invite.initiator"],
    ["invite.official"],
    ["initiative.milestone"],
]


@pytest.mark.parametrize("parts", SMS_REPLIES, ids=["+".join(p) for p in SMS_REPLIES])
@pytest.mark.parametrize("language", ["ky", "ru", "en"])
def test_every_sms_reply_fits_one_segment(parts: list[str], language: str) -> None:
    from datetime import date

    from bot.runtime.i18n import Catalogues
    from handlers.initiatives import day_name
    from handlers.types import Text

    catalogues = Catalogues()
    values = {
        "reference": "9999999",
        "place": _longest_place(language),
        "value": "x" * 20,
        "language": "Кыргызча",
        "length": 1600,
        "limit": 1000,
    }
    if parts == ["bribe.flood"]:
        values["limit"] = 5
    # Signatures: the largest figures (a constitutional amendment), the longest code, dates
    # as Babel writes them, the longest role.
    values |= {
        "count": 299_999,
        "threshold": 300_000,
        "percent": 100,
        "code": "X" * 32,
        "opens": day_name(date(2026, 9, 30), language),
        "closed": day_name(date(2026, 9, 30), language),
        "expected": 14,
        "age": 18,
        "role": Text("role.deputy"),
        "title": "x" * 300,
    }
    if parts == ["sign.sender_limit"]:
        values["limit"] = 3
    if parts == ["bribe.amount_too_big"]:
        values["limit"] = "10 000 000"
    if language == "en":
        values["language"] = "English"
    text = " ".join(catalogues.text(language, Text(key, values), "sms") for key in parts)
    assert segments(text) == 1, text
    if language == "en":  # English stays in GSM-7: 160 characters a segment, not 70
        from bot.channels.sms.segments import is_gsm7

        assert is_gsm7(text), text


@pytest.mark.parametrize("language", ["ky", "ru", "en"])
@pytest.mark.parametrize("key,codes", [("bribe.codes", 10), ("wish.codes", 13)])
def test_the_code_lists_fit_two_segments(language: str, key: str, codes: int) -> None:
    from bot.runtime.i18n import Catalogues
    from handlers.types import Text

    text = Catalogues().text(language, Text(key), "sms")
    assert segments(text) <= 2, text
    assert all(f"{code} " in text for code in range(codes))
