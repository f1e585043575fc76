"""Signing a citizens' initiative on Telegram at the conversation level (tests/conversation.py):
in ky/ru/en from the link to the count, the seal and the operator's export; a wrong PIN or
name refused with its reason, odd dates and minors, Latin and mixed-script names; the
window's edges, a close midway, a PIN twice, leaving midway, unknown codes. One
database per module, a fresh signer and an initiative of its own per test. The rest of
signing, on the wire: tests/test_signatures_telegram.py."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from storage.models import Signature
from tests import places
from tests.conftest import Civicbot
from tests.conversation import World
from tests.initiatives import (
    ADULT_PIN,
    DISCARD,
    NOT_NOW,
    SIGN,
    day,
    open_initiative,
    pin,
    sign_on_telegram,
    stored_signatures,
    today,
)
from tests.test_signatures_telegram import NAME, exported, initiative_row

_codes = itertools.count(1)


def fresh_code(prefix: str) -> str:
    """An initiative code no other test of the module opened (its counts start at 0)."""
    return f"{prefix}{next(_codes)}"


async def signatures_of(database_url: str, code: str) -> list[Signature]:
    """The initiative's signatures, oldest first."""
    initiative = await initiative_row(database_url, code)
    return [s for s in await stored_signatures(database_url) if s.initiative_id == initiative.id]


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands below run on it."""
    return conversation_database_url


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_signing_from_link_to_count(
    world: World,
    civicbot: Civicbot,
    database_url: str,
    tmp_path: Path,
    say: Any,
    language: str,
) -> None:
    code = f"SUU{language.upper()}"  # this test's own: its count starts at 0
    rc, _, err = await civicbot(*open_initiative(code, "--url", "https://example.org/suu"))
    assert rc == 0, err
    signer = world.conversation("telegram", language)
    initiative = await initiative_row(database_url, code)

    card = await signer.send(f"/start i-{code}")
    assert initiative.title(language) in card[0]
    assert "https://example.org/suu" in card[0]
    assert "0" in card[0] and "10000" in card[0]
    assert signer.buttons() == [SIGN[language], NOT_NOW[language]]

    assert await signer.press(SIGN[language]) == [say(language, "sign.name_prompt")]
    assert await signer.send("асанов   бакыт сапарович") == [say(language, "sign.pin_prompt")]
    assert await signer.send("2 1505 1985 00123") == [say(language, "sign.settlement_prompt")]
    assert await signer.send("Чаек") == [say(language, "sign.street_prompt")]
    assert await signer.send("Ленин көчөсү") == [say(language, "sign.house_prompt")]
    confirm = await signer.send("12")
    # The data comes back normalised, for the signer to check.
    assert NAME in confirm[0] and ADULT_PIN in confirm[0]
    assert "Чаек, Ленин көчөсү, 12" in confirm[0]
    assert signer.buttons() == [SIGN[language], DISCARD[language]]

    done = await signer.press(SIGN[language])
    assert done == [say(language, "sign.done", count=1, threshold=10000)]

    rows = await signatures_of(database_url, code)
    assert [(s.status, s.channel, s.signed_on) for s in rows] == [("counted", "telegram", today())]
    assert NAME not in (rows[0].sealed or "") and ADULT_PIN not in (rows[0].sealed or "")
    assert (await initiative_row(database_url, code)).signed == 1
    listed = await exported(civicbot, code, tmp_path)
    assert [(r["full_name"], r["pin"], r["address"], r["status"]) for r in listed] == [
        (NAME, ADULT_PIN, "Чаек, Ленин көчөсү, 12", "counted")
    ]


@pytest.mark.parametrize(
    "text,key,values",
    [
        ("2150519850012", "pin.length", {"length": 13, "expected": 14}),
        ("215051985001234", "pin.length", {"length": 15, "expected": 14}),
        ("31505198500123", "pin.first_digit", {}),
        ("2150519850O123", "pin.not_digits", {}),
        ("ПИН жок", "pin.not_digits", {}),
    ],
)
async def test_a_wrong_pin_is_refused_with_its_reason(
    world: World,
    civicbot: Civicbot,
    say: Any,
    text: str,
    key: str,
    values: dict[str, Any],
) -> None:
    code = fresh_code("PINS")
    await civicbot(*open_initiative(code))
    signer = world.conversation("telegram", "ky")
    await signer.send(f"/start i-{code}")
    await signer.press(SIGN["ky"])
    await signer.send(NAME)
    replies = await signer.send(text)
    assert replies == [say("ky", key, **values) + "\n\n" + say("ky", "sign.pin_prompt")]
    # Nothing given is lost: the right PIN carries on to the address.
    assert await signer.send(ADULT_PIN) == [say("ky", "sign.settlement_prompt")]


async def test_odd_dates_warn_and_minors_are_refused(
    world: World, civicbot: Civicbot, database_url: str, say: Any
) -> None:
    code = fresh_code("AGE")
    await civicbot(*open_initiative(code, "--no-address"))
    signer = world.conversation("telegram", "ru")
    await signer.send(f"/start i-{code}")
    await signer.press(SIGN["ru"])
    await signer.send(NAME)
    born = today().replace(year=today().year - 17)
    refused = await signer.send(pin(born))
    assert refused == [say("ru", "pin.under_age", age=18) + "\n\n" + say("ru", "sign.pin_prompt")]
    odd = "23113198700123"  # 31.13.1987 is no date
    confirm = await signer.send(odd)
    assert confirm[0].startswith(say("ru", "pin.odd_date"))
    assert odd in confirm[0]
    await signer.press(SIGN["ru"])
    [row] = await signatures_of(database_url, code)
    assert (row.status, row.pin_note) == ("counted", "odd_date")


@pytest.mark.parametrize(
    "text,key",
    [("Бакыт", "name.one_word"), ("Асанов 123", "name.letters"), ("   ", "error.empty_text")],
)
async def test_a_wrong_name_is_refused(
    world: World,
    civicbot: Civicbot,
    say: Any,
    text: str,
    key: str,
) -> None:
    code = fresh_code("NAMES")
    await civicbot(*open_initiative(code))
    signer = world.conversation("telegram", "en")
    await signer.send(f"/start i-{code}")
    await signer.press("Sign")
    assert await signer.send(text) == [say("en", key) + "\n\n" + say("en", "sign.name_prompt")]


async def test_latin_and_mixed_script_names(
    world: World, civicbot: Civicbot, database_url: str, say: Any
) -> None:
    code = fresh_code("MIX")
    await civicbot(*open_initiative(code, "--no-address"))
    latin = world.conversation("telegram", "en")
    assert await sign_on_telegram(latin, "en", code, "ASANOV bakyt", address=None) == [
        say("en", "sign.done", count=1, threshold=10000)
    ]
    # The same PIN in Cyrillic is another spelling: kept, for the verification group.
    cyrillic = world.conversation("telegram", "en")
    assert await sign_on_telegram(cyrillic, "en", code, "Асанов Бакыт", address=None) == [
        say("en", "sign.disputed")
    ]
    # A Latin "a" typed inside the Cyrillic word is the Cyrillic name again.
    mixed = world.conversation("telegram", "en")
    assert await sign_on_telegram(mixed, "en", code, "асaнов бакыт", address=None) == [
        say("en", "sign.already", title=f"Clean water {code}")
    ]
    assert [s.status for s in await signatures_of(database_url, code)] == ["counted", "disputed"]


@pytest.mark.parametrize(
    "window,expected",
    [
        (["--opens", day(1)], "not_yet"),  # the day before opening
        (["--opens", day(0)], "open"),  # the opening day
        (["--opens", day(-5), "--closes", day(0)], "open"),  # the closing day
        (["--opens", day(-5), "--closes", day(-1)], "closed"),  # the day after
    ],
)
async def test_window_edges_in_bishkek_time(
    world: World,
    civicbot: Civicbot,
    database_url: str,
    say: Any,
    window: list[str],
    expected: str,
) -> None:
    code = fresh_code("EDGE")
    rc, _, err = await civicbot(*open_initiative(code, *window))
    assert rc == 0, err
    signer = world.conversation("telegram", "en")
    initiative = await initiative_row(database_url, code)
    replies = await signer.send(f"/sign {code}")
    if expected == "open":
        assert signer.buttons() == ["Sign", "Not now"]
        assert await sign_on_telegram(signer, "en", code) == [
            say("en", "sign.done", count=1, threshold=10000)
        ]
        return
    from handlers.initiatives import day_name

    if expected == "not_yet":
        assert replies == [
            say(
                "en",
                "sign.not_yet",
                title=f"Clean water {code}",
                opens=day_name(initiative.opens_on, "en"),
            )
        ]
    else:
        assert replies == [
            say(
                "en",
                "sign.closed",
                title=f"Clean water {code}",
                closed=day_name(initiative.closes_on, "en"),
                count=0,
            )
        ]
    assert await signatures_of(database_url, code) == []


async def test_closed_by_the_operator_midway(
    world: World, civicbot: Civicbot, database_url: str
) -> None:
    code = fresh_code("SIGN")
    await civicbot(*open_initiative(code))
    signer = world.conversation("telegram", "en")
    await signer.send(f"/start i-{code}")
    await signer.press("Sign")
    await signer.send("Asanov Bakyt")
    rc, out, _ = await civicbot("initiative", "close", code)
    assert rc == 0 and "closed" in out
    replies = await signer.send(ADULT_PIN)
    assert "closed" in replies[0]
    assert await signatures_of(database_url, code) == []


async def test_same_pin_same_name_and_same_pin_other_name(
    world: World,
    civicbot: Civicbot,
    database_url: str,
    tmp_path: Any,
    say: Any,
) -> None:
    code = fresh_code("SIGN")
    await civicbot(*open_initiative(code))
    signer = world.conversation("telegram", "ky")
    await sign_on_telegram(signer, "ky", code, NAME)
    again = await sign_on_telegram(signer, "ky", code, NAME.upper())
    assert again == [say("ky", "sign.already", title=f"Таза суу {code}")]

    namesake = world.conversation("telegram", "ky")
    disputed = await sign_on_telegram(namesake, "ky", code, "Бекова Айгүл")
    assert disputed == [say("ky", "sign.disputed")]

    assert [s.status for s in await signatures_of(database_url, code)] == ["counted", "disputed"]
    assert (await initiative_row(database_url, code)).signed == 1
    listed = await exported(civicbot, code, tmp_path)
    assert [(r["status"], r["full_name"]) for r in listed] == [
        ("counted", NAME),
        ("disputed", "Бекова Айгүл"),
    ]


async def test_abandoning_midway_stores_nothing(
    world: World, civicbot: Civicbot, database_url: str, say: Any
) -> None:
    code = fresh_code("SIGN")
    await civicbot(*open_initiative(code))
    signer = world.conversation("telegram", "en")
    await signer.send(f"/start i-{code}")
    await signer.press("Sign")
    await signer.send(NAME)
    await signer.send(ADULT_PIN)
    # What was typed waits sealed in the conversation, never in the clear.
    conversation = await signer.state()
    assert conversation is not None
    assert NAME not in str(conversation.data) and ADULT_PIN not in str(conversation.data)
    assert await signer.send("/cancel") == [say("en", "cancel.done")]
    stale = await signer.press_data(signer.keyboard()[0][0][1])
    assert stale[0].startswith(say("en", "error.stale_button"))
    assert await signatures_of(database_url, code) == []

    # "Not now" on the card and "Discard" at the end store nothing either.
    await signer.send(f"/start i-{code}")
    assert await signer.press("Not now") == [say("en", "sign.discarded")]
    await signer.send(f"/start i-{code}")
    await signer.press("Sign")
    await signer.send(NAME)
    await signer.send(ADULT_PIN)
    for part in ("Chaek", "Lenin", "12"):
        await signer.send(part)
    assert await signer.press("Discard") == [say("en", "sign.discarded")]
    assert await signatures_of(database_url, code) == []


async def test_unknown_code_and_stickers(world: World, civicbot: Civicbot, say: Any) -> None:
    code = fresh_code("SIGN")
    await civicbot(*open_initiative(code))
    signer = world.conversation("telegram", "ru")
    assert await signer.send("/sign NOPE") == [say("ru", "sign.unknown", code="NOPE")]
    assert await signer.send("/start i-x") == [say("ru", "sign.unknown", code="x")]
    await signer.send(f"/sign {code.lower()}")  # codes are case-insensitive
    await signer.press(SIGN["ru"])
    replies = await signer.send_unsupported("sticker")
    assert replies == [say("ru", "error.unsupported") + "\n\n" + say("ru", "sign.name_prompt")]
