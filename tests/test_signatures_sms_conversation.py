"""Signing by SMS and WhatsApp at the conversation level (tests/conversation.py), the body
read by Twilio's parsing: one message, the address in a second when asked, every language's
keyword, wrong orders and bad input, invites redeemed with JOIN. One database per module,
fresh phones and initiatives of their own per test. On the wire (a redelivered MessageSid,
the refusal's metric and log, milestones sent by SMS): tests/test_signatures_sms.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import string
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Initiative, Role, Signature
from tests.conftest import Civicbot
from tests.conversation import Conversation, World, fresh_number
from tests.initiatives import ADULT_PIN, open_initiative, pin, stored_signatures
from tests.test_signatures_sms import MINOR_PIN, sms

_tests = itertools.count(1)


def letters(number: int) -> str:
    """1 → A, 26 → Z, 27 → AA: a suffix that keeps a code all letters, as people type it."""
    suffix = ""
    while number:
        number, rest = divmod(number - 1, 26)
        suffix = string.ascii_uppercase[rest] + suffix
    return suffix


class Phones:
    """Residents texting one number, each from a fresh phone of their own."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._phones: dict[str, Conversation] = {}

    async def text(self, body: str, sender: str = "first") -> str:
        """The answer to one SMS (a WhatsApp message when `sender` starts with whatsapp)."""
        if sender not in self._phones:
            number = fresh_number()
            address = "whatsapp:" + number if sender.startswith("whatsapp") else number
            self._phones[sender] = self.world.conversation("sms", user=address)
        answers = await self._phones[sender].send(body)
        assert len(answers) <= 1, answers  # one message, one answer
        return answers[0] if answers else ""


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands below run on it."""
    return conversation_database_url


@pytest.fixture
async def codes(civicbot: Civicbot) -> dict[str, str]:
    """This test's initiatives: SUU (no address), JOL (an address) and LATE (not open)."""
    suffix = letters(next(_tests))
    codes = {name: name + suffix for name in ("SUU", "JOL", "LATE")}
    for arguments in (
        open_initiative(codes["SUU"], "--no-address"),
        open_initiative(codes["JOL"]),
        open_initiative(codes["LATE"], "--opens", "2099-01-01", "--closes", "2099-03-01"),
    ):
        rc, _, err = await civicbot(*arguments)
        assert rc == 0, err
    return codes


@pytest.fixture
def phones(world: World) -> Phones:
    return Phones(world)


async def signatures(world: World, codes: dict[str, str]) -> list[Signature]:
    """This test's signatures (to its initiatives), oldest first."""
    async with world.db.session() as session:
        ids = set(
            (
                await session.scalars(
                    select(Initiative.id).where(Initiative.code.in_(list(codes.values())))
                )
            ).all()
        )
    return [s for s in await stored_signatures(world.database_url) if s.initiative_id in ids]


def coded(body: str, codes: dict[str, str]) -> str:
    """A body written with SUU and JOL, with this test's codes (in the same case)."""
    for name, code in codes.items():
        body = body.replace(name, code).replace(name.lower(), code.lower())
    return body


@pytest.mark.parametrize(
    "body,language",
    [
        (f"КОЛ SUU {ADULT_PIN} Асанов Бакыт", "ky"),
        (f"кол suu {ADULT_PIN} асанов бакыт", "ky"),
        (f"KOL SUU {ADULT_PIN} Asanov Bakyt", "ky"),
        (f"ПОДПИСЬ SUU {ADULT_PIN} Асанов Бакыт", "ru"),
        (f"SIGN SUU {ADULT_PIN} Asanov Bakyt", "en"),
        # Wrong order, PIN in groups, the code typed in Cyrillic look-alikes.
        ("КОЛ Асанов Бакыт 2-1505-1985-00123 SUU", "ky"),
        ("ПОДПИСЬ 2 1505 1985 00123 Асанов Бакыт SUU", "ru"),
    ],
)
async def test_one_message_signs(
    phones: Phones, world: World, codes: dict[str, str], body: str, language: str
) -> None:
    reply = await phones.text(coded(body, codes))
    assert reply == sms(language, "sign.done", count=1, threshold=10000)
    [row] = await signatures(world, codes)
    assert (row.status, row.channel) == ("counted", "sms")


async def test_the_address_comes_in_a_second_message(
    phones: Phones, world: World, codes: dict[str, str]
) -> None:
    # The code typed with a Cyrillic О is still JOL.
    cyrillic = codes["JOL"].replace("O", "О")
    first = await phones.text(f"ПОДПИСЬ {cyrillic} {ADULT_PIN} Асанов Бакыт")
    assert first == sms("ru", "sign.address_prompt")
    assert await signatures(world, codes) == []
    # An empty address is refused; the draft waits.
    assert await phones.text("   ") == " ".join(
        (sms("ru", "sign.address_empty"), sms("ru", "sign.address_prompt"))
    )
    done = await phones.text("Чаек, Ленина, 12")
    assert done == sms("ru", "sign.done", count=1, threshold=10000)
    [row] = await signatures(world, codes)
    assert row.status == "counted"


async def test_a_new_keyword_drops_a_half_given_signature(
    phones: Phones, world: World, codes: dict[str, str]
) -> None:
    await phones.text(coded(f"SIGN JOL {ADULT_PIN} Asanov Bakyt", codes))
    await phones.text("CHANGE The road is broken")
    # The next plain message is not taken for an address any more: it is asked about.
    assert await phones.text("Chaek, Lenin, 12") == sms("en", "free_text.ask")
    assert await signatures(world, codes) == []


@pytest.mark.parametrize(
    "body,expected",
    [
        ("КОЛ", ("ky", "sign.usage", {})),
        ("КОЛ SUU", ("ky", "sign.usage", {})),
        (f"КОЛ SUU {ADULT_PIN}", ("ky", "sign.usage", {})),
        (f"ПОДПИСЬ NOPE {ADULT_PIN} Асанов Бакыт", ("ru", "sign.unknown", {"code": "NOPE"})),
        (
            "SIGN SUU 2150519850012 Asanov Bakyt",
            ("en", "pin.length", {"length": 13, "expected": 14}),
        ),
        ("SIGN SUU 31505198500123 Asanov Bakyt", ("en", "pin.first_digit", {})),
        (f"SIGN SUU {ADULT_PIN} Bakyt", ("en", "name.one_word", {})),
        (f"SIGN SUU {MINOR_PIN} Asanov Bakyt", ("en", "pin.under_age", {"age": 18})),
    ],
)
async def test_bad_input_gets_a_short_reason(
    phones: Phones,
    world: World,
    codes: dict[str, str],
    body: str,
    expected: tuple[str, str, dict[str, Any]],
) -> None:
    language, key, values = expected
    assert await phones.text(coded(body, codes)) == sms(language, key, **values)
    assert await signatures(world, codes) == []


async def test_not_open_yet(phones: Phones, codes: dict[str, str]) -> None:
    from handlers.initiatives import day_name

    reply = await phones.text(coded(f"SIGN LATE {ADULT_PIN} Asanov Bakyt", codes))
    assert reply == sms("en", "sign.not_yet", opens=day_name(dt.date(2099, 1, 1), "en"))


async def test_help_sign_and_the_odd_date_warning(
    phones: Phones, world: World, codes: dict[str, str]
) -> None:
    assert await phones.text("ЖАРДАМ КОЛ") == sms("ky", "sign.usage")
    assert await phones.text("HELP SIGN") == sms("en", "sign.usage")
    reply = await phones.text(coded("КОЛ SUU 23113198700123 Асанов Бакыт", codes))
    assert reply == " ".join(
        (sms("ky", "pin.odd_date"), sms("ky", "sign.done", count=1, threshold=10000))
    )
    [row] = await signatures(world, codes)
    assert row.pin_note == "odd_date"


async def test_one_pin_from_two_phones_at_once_is_counted_once(
    phones: Phones, world: World, codes: dict[str, str]
) -> None:
    """Two phones send one PIN at the same moment (on PostgreSQL, two transactions both find
    no signature before either commits): one is counted; the other, under another name, is
    kept as disputed, and under the same name is "already signed". The tally is exact."""
    names = ("Asanov Bakyt", "Osmonova Aigul")
    for pair in range(5):
        same_name = pair % 2 == 1
        body = coded(f"SIGN SUU {pin(dt.date(1980 + pair, 1, 1))} ", codes) + "{}"
        replies = await asyncio.gather(
            phones.text(body.format(names[0]), sender=f"{pair}-first"),
            phones.text(body.format(names[0 if same_name else 1]), sender=f"{pair}-second"),
        )
        expected = "sign.already" if same_name else "sign.disputed"
        other = sms("en", expected, title="") if same_name else sms("en", expected)
        counted = sms("en", "sign.done", count=pair + 1, threshold=10000)
        assert sorted(replies) == sorted([counted, other])
    rows = await signatures(world, codes)
    assert sorted(row.status for row in rows) == ["counted"] * 5 + ["disputed"] * 3
    async with world.db.session() as session:
        code = codes["SUU"]
        tally = await session.scalar(select(Initiative.signed).where(Initiative.code == code))
    assert tally == 5


async def test_whatsapp_signs_as_its_own_channel(
    phones: Phones, world: World, codes: dict[str, str]
) -> None:
    reply = await phones.text(coded(f"SIGN SUU {ADULT_PIN} Asanov Bakyt", codes), "whatsapp")
    assert reply == sms("en", "sign.done", count=1, threshold=10000)
    [row] = await signatures(world, codes)
    assert row.channel == "whatsapp"


async def test_join_redeems_an_invite_once(
    phones: Phones, world: World, civicbot: Civicbot, codes: dict[str, str]
) -> None:
    _, out, _ = await civicbot("invite", "--role", "initiator", "--initiative", codes["SUU"])
    code = re.search(r"invite code: (\w+)", out).group(1)  # type: ignore[union-attr]
    assert f"JOIN {code}" in out and f"КОШУЛ {code}" in out
    known = await world.ids(Role)
    assert await phones.text(f"КОШУЛ {code.lower()}") == sms("ky", "invite.initiator", title="")
    assert await phones.text(f"JOIN {code}", sender="second") == sms("ky", "invite.used")
    assert await phones.text("ВСТУПИТЬ") == sms("ru", "invite.usage")
    assert await phones.text("ВСТУПИТЬ ZZZZZZZZ") == sms("ru", "invite.unknown")
    roles = await world.rows_since(Role, known)
    assert [(r.role, r.initiative_id is not None) for r in roles] == [("initiator", True)]
