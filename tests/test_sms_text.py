"""SMS text rules without a server: the keyword grammar and the segment counter (what every
answer takes is tests/test_sms_wording.py)."""

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
        # Twilio's words tell a new sender's language, and never change a known one's.
        ("stop", Parsed("stop", "", None, guess="en")),
        ("UNSUBSCRIBE", Parsed("stop", "", None, guess="en")),
        ("старт", Parsed("resume", "", None)),
        ("START", Parsed("resume", "", None, guess="en")),
        ("  ", Parsed(None, "", None)),
        # Without a keyword: Kyrgyz letters, other Cyrillic, Latin.
        ("Салам", Parsed(None, "Салам", "ru")),
        ("Привет", Parsed(None, "Привет", "ru")),
        ("Салам, көчөдө жарык жок", Parsed(None, "Салам, көчөдө жарык жок", "ky")),
        ("1", Parsed(None, "1", None)),
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
