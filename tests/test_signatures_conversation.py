"""Signing a citizens' initiative on Telegram at the conversation level (tests/conversation.py),
in ky/ru/en: from the link to the count, the seal and the operator's export. One database
per module, a fresh signer and an initiative of its own per test. The rest of signing, on
the wire: tests/test_signatures_telegram.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import places
from tests.conftest import Civicbot
from tests.conversation import World
from tests.initiatives import (
    ADULT_PIN,
    DISCARD,
    NOT_NOW,
    SIGN,
    open_initiative,
    stored_signatures,
    today,
)
from tests.test_signatures_telegram import NAME, exported, initiative_row


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

    rows = [s for s in await stored_signatures(database_url) if s.initiative_id == initiative.id]
    assert [(s.status, s.channel, s.signed_on) for s in rows] == [("counted", "telegram", today())]
    assert NAME not in (rows[0].sealed or "") and ADULT_PIN not in (rows[0].sealed or "")
    assert (await initiative_row(database_url, code)).signed == 1
    listed = await exported(civicbot, code, tmp_path)
    assert [(r["full_name"], r["pin"], r["address"], r["status"]) for r in listed] == [
        (NAME, ADULT_PIN, "Чаек, Ленин көчөсү, 12", "counted")
    ]
