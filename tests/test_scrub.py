"""The scrubber (handlers/scrub.py), writing by writing: phone numbers as people in
Kyrgyzstan write them and messenger or social links are masked; dates, years, amounts,
reference numbers and house numbers are not. And what Open311 and the public page publish of
a wish that holds them (issue 25, item 13)."""

from __future__ import annotations

import aiohttp
import pytest

from handlers.scrub import MASK, scrub
from tests.conftest import StartBot
from tests.twilio import inbound_form, post_signed, twilio_settings

MASKED = [
    # Mobile numbers: with the country code, the trunk 0, or neither; any separators.
    "+996 555 42 42 42",
    "+996555424242",
    "+996 (555) 42-42-42",
    "+996-555-424-242",
    "996555424242",
    "996 555 424242",
    "0555.42.42.42",
    "0555 20.11.45",  # its last groups could be a date with a two-digit year: not beside digits
    "+996 555 10.10.10",
    "0700 12.11.10",
    "0555 42 42 42",
    "0 555 424 242",
    "0(555)42-42-42",
    "0 (555) 42-42-42",
    "(0555) 424242",
    "0555-42-42-42",
    "0555424242",
    "555-42-42-42",
    "555 42 42 42",
    "555.42.42.42",
    "555424242",
    "0700 12 34 56",
    "0 772 12 34 56",
    "0220 123 456",
    "0555\u00a042\u00a042\u00a042",  # non-breaking spaces, as a phone's keyboard puts them
    "0555\u202f42\u200942\u200742",  # narrow, thin and figure spaces
    # Other separators: dashes of every kind, slashes, underscores, several in a row.
    "0555–42–42–42",  # en dash
    "0555—42—42—42",  # em dash
    "0555−42−42−42",  # minus sign
    "0555‑42‑42‑42",  # non-breaking hyphen
    "0555 – 42 – 42 – 42",
    "+996 (555) 42–42–42",
    "0555/42/42/42",
    "555/424/242",
    "0555_42_42_42",
    "0555 -  42 -  42 -  42",
    "0555\ufe0f\u20e342424242",  # a keycap after the first group
    "0\ufe0f\u20e35\ufe0f\u20e35\ufe0f\u20e35\ufe0f\u20e34\ufe0f\u20e32\ufe0f\u20e3"
    "4\ufe0f\u20e32\ufe0f\u20e34\ufe0f\u20e32\ufe0f\u20e3",  # keycap digits
    # Invisible characters inside a number.
    "0555\u200b424242",
    "0555\u200b42\u200b42\u200b42",
    "0555\u00ad42\u00ad42\u00ad42",  # soft hyphens
    "0555\u200c424242",
    "0555\u200d424242",
    "0555 \u200d42 42 42",
    "0555-\u200d\u200d\u200d-42-42-42",
    "0555\u2060424242",
    "0555\ufeff424242",
    "0555\u200e424242",  # a direction mark
    "\u2066+996 555 424242\u2069",  # an isolate around the number
    # Broken by a line, or written with commas: from the number's own prefix.
    "0555\n42 42 42",
    "0555\r\n424242",
    "0555,42,42,42",
    "0555, 42, 42, 42",
    "+996,555,42,42,42",
    "(0312),62,12,34",
    "03522\n5 12 34",
    # Landlines: the area code and the subscriber's number.
    "0312 62 12 34",
    "(0312) 62-12-34",
    "0312-621234",
    "+996 312 62 12 34",
    "03522 5 12 34",
    "(03222) 5-55-55",
    # PIN-like and other long runs, passports.
    "21203199001234",
    "212 031 990 012 34",
    "4169 5853 1234 5678",
    "ID1234567",
    "AN 1234567",
    # Messengers and social networks.
    "t.me/aibek_k",
    "https://t.me/aibek_k",
    "telegram.me/aibek_k",
    "wa.me/996555424242",
    "https://api.whatsapp.com/send?phone=996555424242",
    "https://chat.whatsapp.com/AbCdEf123",
    "instagram.com/aibek.k",
    "https://www.instagram.com/aibek_k/",
    "vk.com/id12345",
    "https://m.vk.com/aibek",
    "facebook.com/aibek.kadyrov",
    "fb.com/aibek",
    "ok.ru/profile/123456",
    "tiktok.com/@aibek",
    "vk.ru/aibek",
    "https://vk.ru/id12345",
    "discord.gg/AbCd123",
    "https://discord.com/invite/AbCd123",
    "discordapp.com/invite/AbCd123",
    "snapchat.com/add/aibek_k",
    "https://www.snapchat.com/add/aibek_k",
    "signal.me/#p/+996555424242",
    "viber://chat?number=%2B996555424242",
    "tg://resolve?domain=aibek_k",
    "@aibek_k",
    "aibek.k@example.kg",
    # E-mail addresses written so that a robot would not see them.
    "aibek.k [at] mail.kg",
    "aibek.k (at) mail.kg",
    "aibek.k[at]mail.kg",
    "aibek.k {AT} mail.kg",
    "aibek.k [собака] mail.kg",
    "aibek.k собака mail.kg",
    "aibek.k @ mail.kg",
    "aibek.k@mail[dot]kg",
    "aibek.k [at] mail (dot) kg",
    "aibek.k (at) mail точка kg",
]

KEPT = [
    "12.05.2026",
    "12.05.26",
    "2026-05-12",
    "12.05.2026-15.05.2026",
    "12.05.2026 – 15.05.2026",
    "2026-жылы",
    "2024-2025 окуу жылы",
    "1990-жылдан бери",
    "5000 сом",
    "5 000 сом",
    "15 000 сом",
    "1 500 000 сом",
    "150 000 000 сом",
    "2 миллион сом",
    "өтүнүч 1234567 аткарылган жок",
    "№ 1234567",
    "Ленина 12/3, кв. 5",
    "Чүй проспекти 265а",
    "3-кичи район, 14-үй",
    "саат 10:30да",
    "12.05.2026 саат 10:30",
    "100 метр",
    "ПАРА 3 5000",
    # Ranges, fractions, slashed dates, lists: what the new separators could wrongly join.
    "2020–2024",
    "2020—2024 жылдары",
    "2020 – 2024",
    "2024/2025 окуу жылы",
    "10–15 күн",
    "с 9–18 ч.",
    "саат 9:00–18:00",
    "10/12/2026",
    "10/12/2026 – 15/12/2026",
    "кв. 12/3",
    "дом 12/3",
    "1/2 часть",
    "file_name_2024",
    "дома 12, 14, 16",
    "дома 12, 14, 16, 18, 20",
    "дома 12,14,16,18,20",
    "кв. 201, 202, 203",
    "кв. 201,202,203",
    "2020\n2021\n2022",
    "2020\n2021\n2022\n2023",
    "1,500,000,000",
    "0,25 0,5 0,75 1,0",
    "5 000–10 000 сом",
    "100 000 – 200 000 сом",
    "2023 — 100 000 сом, 2024 — 150 000 сом",
    "150 000 – 1 500 000 сом",
    "555–42–42",  # seven digits: too short to be a number
    "0555/42/42",
    "0555_42_42",
    "0555 -  42 -  42",
    "0555\n42 42",
    "0555,42,42",
    "0555, 0777, 0312",
    "1️⃣ жол, 2️⃣ суу",
    "👨‍👩‍👧 үй-бүлө",  # the joiners of an emoji stay
    "instagram.com",  # a site, not anyone's page
    "box.com/file",
    "www.gov.kg/ru/",
]


@pytest.mark.parametrize("writing", MASKED)
def test_a_phone_number_or_a_profile_is_masked_in_a_sentence(writing: str) -> None:
    assert scrub(f"Чалыңыз {writing}, кечинде.") == f"Чалыңыз {MASK}, кечинде."


@pytest.mark.parametrize("text", KEPT)
def test_an_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    "text,expected",
    [
        ("12.05.2026 0555.42.42.42", f"12.05.2026 {MASK}"),
        ("2026-05-12 0555 42 42 42 чалгыла", f"2026-05-12 {MASK} чалгыла"),
        ("5000 сом, тел 0555424242", f"5000 сом, тел {MASK}"),
        ("өтүнүч 1234567, тел 0555 42 42 42.", f"өтүнүч 1234567, тел {MASK}."),
        ("жаз: t.me/aibek_k же @aibek_k", f"жаз: {MASK} же {MASK}"),
        ("10/12/2026 0555/42/42/42", f"10/12/2026 {MASK}"),
        ("12.05.2026 – 0555–42–42–42", f"12.05.2026 – {MASK}"),
        ("2020\n0555 42 42 42", f"2020\n{MASK}"),
        ("дом 12,0555,42,42,42", f"дом 12,{MASK}"),
        ("тел 0555\n42 42 42\n12.05.2026 келем", f"тел {MASK}\n12.05.2026 келем"),
        ("0555\u200b42 42 42 ✅", f"{MASK} ✅"),
        ("суу\u00adжок", "суужок"),  # invisible characters go, wherever they are
        ("2024 — 50 000 сом, 0555 42 42 42", f"2024 — 50 000 сом, {MASK}"),
        ("жаз aibek [at] mail.kg же discord.gg/AbCd", f"жаз {MASK} же {MASK}"),
    ],
)
def test_a_number_beside_a_date_or_an_amount_is_told_apart(text: str, expected: str) -> None:
    assert scrub(text) == expected


async def test_what_is_published_of_a_wish_is_masked(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook", telegram_bot_token=None, **twilio_settings())
    phone = "+996555901234"
    text = "Жарык жок 12.05.2026 бери, тел 0555.42.42.42, t.me/aibek_k, өтүнүч 7654321"
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form(phone, "ЖЕР naryn_city"))
    status, _ = await post_signed(
        runtime.base_url, "/sms/twilio", inbound_form(phone, f"ӨЗГӨРТ {text}")
    )
    assert status == 200
    masked = f"Жарык жок 12.05.2026 бери, тел {MASK}, {MASK}, өтүнүч 7654321"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{runtime.base_url}/open311/v2/requests.json") as response:
            [request] = await response.json()
        async with http.get(f"{runtime.base_url}/m/naryn_city") as response:
            page = await response.text()
    assert request["description"] == masked
    assert masked in page
    for leaked in ("0555.42.42.42", "42.42.42", "aibek_k", "t.me/"):
        assert leaked not in request["description"] and leaked not in page
