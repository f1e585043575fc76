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
    "viber://chat?number=%2B996555424242",
    "tg://resolve?domain=aibek_k",
    "@aibek_k",
    "aibek.k@example.kg",
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
