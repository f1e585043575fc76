"""Signing citizens' initiatives on Telegram, end to end through the fake Bot API: what is
open to a resident (every initiative in the database), milestones reaching the initiative
group, the burst limit, invites, /forget, the deployment's timezone, a draft wiped. The flow
itself in ky/ru/en, its bad input, windows, repeats and disputes run at the conversation
level: tests/test_signatures_conversation.py."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Conversation, Initiative
from tests.conftest import Civicbot, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.initiatives import (
    day,
    open_initiative,
    pin,
    sign_on_telegram,
    stored_signatures,
)
from tests.resident import Resident

NAME = "Асанов Бакыт Сапарович"


async def initiative_row(database_url: str, code: str) -> Initiative:
    db = Database(database_url)
    try:
        async with db.session() as session:
            found = await session.scalar(select(Initiative).where(Initiative.code == code))
            assert found is not None
            return found
    finally:
        await db.close()


async def exported(civicbot: Civicbot, code: str, tmp_path: Any) -> list[dict[str, str]]:
    import csv

    out = tmp_path / f"{code}.csv"
    rc, _, err = await civicbot("export", "signatures", "--initiative", code, "--output", str(out))
    assert rc == 0, err
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:-1]]


async def resident(runtime: Any, telegram: FakeTelegram, user_id: int, language: str) -> Resident:
    return resident_of(runtime, telegram, "webhook", user_id, language)


async def test_sign_lists_what_is_open_to_the_resident(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Any
) -> None:
    await civicbot(*open_initiative("NATION"))
    local = ["--municipality", "chaek", "--threshold", "300"]
    await civicbot(*open_initiative("CHAEK", *local, kind="local"))
    await civicbot(
        *open_initiative("NARYN", "--municipality", "naryn_city", "--threshold", "5", kind="local")
    )
    await civicbot(*open_initiative("LATER", "--opens", day(1)))
    runtime = await start_bot("webhook")
    signer = await resident(runtime, telegram, 8102, "en")
    await signer.send("/start m-chaek")
    await signer.press("English")

    assert await signer.send("/sign") == [say("en", "sign.choose_prompt")]
    assert signer.buttons() == ["Clean water CHAEK", "Clean water NATION"]
    card = await signer.press("Clean water CHAEK")
    assert "Clean water CHAEK" in card[0]

    # Nobody else's local initiative, nothing not yet open; with one left it opens at once.
    elsewhere = await resident(runtime, telegram, 8103, "en")
    await elsewhere.send("/start m-lenin")
    await elsewhere.press("English")
    card = await elsewhere.send("/sign")
    assert "Clean water NATION" in card[0] and elsewhere.buttons()[0] == "Sign"


async def test_nothing_open(start_bot: StartBot, telegram: FakeTelegram, say: Any) -> None:
    runtime = await start_bot("webhook")
    signer = await resident(runtime, telegram, 8104, "ru")
    assert await signer.send("/sign") == [say("ru", "sign.none_open")]


async def test_milestones_reach_the_initiative_group_once_each(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Any
) -> None:
    local = ["--municipality", "chaek", "--threshold", "3", "--no-address"]
    await civicbot(*open_initiative("BRIDGE", *local, kind="local"))
    rc, out, err = await civicbot("invite", "--role", "initiator", "--initiative", "bridge")
    assert rc == 0, err
    code = re.search(r"invite code: (\w+)", out).group(1)  # type: ignore[union-attr]
    runtime = await start_bot("webhook")
    initiator = await resident(runtime, telegram, 8120, "ru")
    welcome = await initiator.send(f"/start inv-{code}")
    assert welcome[0].startswith(say("ru", "invite.initiator", title="Чистая вода BRIDGE"))
    assert (await initiator.send(f"/start inv-{code}"))[0].startswith(say("ru", "invite.used"))

    status = await initiator.send("/initiative")
    assert "BRIDGE" in status[0] and "0 из 3 (0%)" in status[0]
    assert "https://t.me/civic_test_bot?start=i-BRIDGE" in status[0]

    names = ["Асанов Бакыт", "Бекова Айгүл", "Токтогулов Нурлан", "Осмонова Жибек"]
    for number, name in enumerate(names):
        signer = await resident(runtime, telegram, 8121 + number, "ky")
        await sign_on_telegram(signer, "ky", "BRIDGE", name, pin(dt_born(number)), address=None)

    expected = [
        say(
            "ru",
            "initiative.milestone",
            title="Чистая вода BRIDGE",
            code="BRIDGE",
            percent=p,
            count=c,
            threshold=3,
        )
        for p, c in ((33, 1), (66, 2), (100, 3))
    ]
    await wait_for(lambda: len(milestones(initiator)) >= 3)
    await asyncio.sleep(0.3)  # and no more than three
    assert milestones(initiator) == expected

    status = await initiator.send("/initiative")
    assert "4 из 3 (133%)" in status[0]


def dt_born(number: int) -> Any:
    import datetime as dt

    return dt.date(1970 + number, 1, 2)


def milestones(initiator: Resident) -> list[str]:
    texts = (m["text"] for m in initiator.sent_messages())
    return [t for t in texts if t.startswith("Инициатива «Чистая вода BRIDGE» (BRIDGE) набрала")]


async def wait_for(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_residents_cannot_use_initiative(
    start_bot: StartBot, telegram: FakeTelegram, say: Any
) -> None:
    runtime = await start_bot("webhook")
    signer = await resident(runtime, telegram, 8130, "en")
    assert await signer.send("/initiative") == [say("en", "initiative.not_initiator")]
    assert (await signer.send("/start inv-NOSUCH"))[0].startswith(say("en", "invite.unknown"))


async def test_expired_invite(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str, say: Any
) -> None:
    await civicbot(*open_initiative("OLD"))
    _, out, _ = await civicbot("invite", "--role", "initiator", "--initiative", "OLD")
    code = re.search(r"invite code: (\w+)", out).group(1)  # type: ignore[union-attr]
    from sqlalchemy import update

    from storage.models import Invite, utcnow

    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(update(Invite).values(expires_at=utcnow()))
    finally:
        await db.close()
    runtime = await start_bot("webhook")
    person = await resident(runtime, telegram, 8131, "en")
    assert (await person.send(f"/start inv-{code}"))[0].startswith(say("en", "invite.expired"))
    assert await person.send("/initiative") == [say("en", "initiative.not_initiator")]


async def test_a_burst_from_one_chat_is_refused_politely(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str, say: Any
) -> None:
    await civicbot(*open_initiative("FLOOD", "--no-address"))
    runtime = await start_bot("webhook")
    phone = await resident(runtime, telegram, 8140, "en")
    answers = []
    for number in range(4):  # a household on one phone: three, not four
        answers.append(
            await sign_on_telegram(
                phone, "en", "FLOOD", f"Asanov Bakyt{'a' * number}", pin(dt_born(number)), None
            )
        )
    assert answers[3] == [say("en", "sign.sender_limit", limit=3)]
    # Ten signing attempts an hour from one chat; the eleventh is refused.
    for _ in range(6):
        await sign_on_telegram(phone, "en", "FLOOD", "Asanov Bakyt", pin(dt_born(0)), None)
    assert await sign_on_telegram(phone, "en", "FLOOD", "Asanov Bakyt", pin(dt_born(0)), None) == [
        say("en", "sign.flood")
    ]
    assert [s.status for s in await stored_signatures(database_url)] == ["counted"] * 3


async def test_forget_withdraws_signatures_while_collecting(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    tmp_path: Any,
) -> None:
    await civicbot(*open_initiative("OPEN"))
    await civicbot(*open_initiative("DONE"))
    runtime = await start_bot("webhook")
    signer = await resident(runtime, telegram, 8150, "en")
    await sign_on_telegram(signer, "en", "OPEN", NAME)
    await sign_on_telegram(signer, "en", "DONE", NAME)
    await civicbot("initiative", "close", "DONE")

    await signer.send("/forget")
    await signer.press("Yes, delete")

    rows = await stored_signatures(database_url)
    assert [(r.status, r.person_id, r.sealed is None, r.pin_key is None) for r in rows] == [
        ("withdrawn", None, True, True),
        ("counted", None, False, False),  # the closed list stays as it was handed in
    ]
    assert (await initiative_row(database_url, "OPEN")).signed == 0
    listed = await exported(civicbot, "OPEN", tmp_path)
    assert [(r["status"], r["full_name"], r["pin"], r["address"]) for r in listed] == [
        ("withdrawn", "", "", "")
    ]


@pytest.mark.parametrize("zone,opened", [("Pacific/Kiritimati", True), ("Etc/GMT+12", False)])
async def test_the_window_follows_the_deployment_timezone(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, zone: str, opened: bool
) -> None:
    """Kiritimati (UTC+14) and UTC−12 are always on different dates: an initiative opening
    on Kiritimati's today is open there and not yet open in the other."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    opening = dt.datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    await civicbot(*open_initiative("ZONE", "--opens", opening))
    runtime = await start_bot("webhook", timezone=zone)
    signer = await resident(runtime, telegram, 8160, "en")
    card = await signer.send("/sign ZONE")
    assert ("Signing closes on" in card[0]) is opened
    assert ("has not started yet" in card[0]) is not opened


async def test_a_draft_left_for_an_hour_is_wiped(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    from bot.runtime import housekeeping

    await civicbot(*open_initiative("STALE"))
    runtime = await start_bot("webhook")
    signer = await resident(runtime, telegram, 8170, "en")
    await signer.send("/start i-STALE")
    await signer.press("Sign")
    await signer.send(NAME)
    assert await housekeeping.sweep(runtime.db) == 0  # not yet an hour
    async with runtime.db.session() as session, session.begin():
        conversation = (await session.scalars(select(Conversation))).one()
        conversation.data = {**conversation.data, "expires": "2000-01-01T00:00:00+00:00"}
    assert await housekeeping.sweep(runtime.db) == 1
    async with runtime.db.session() as session:
        conversation = (await session.scalars(select(Conversation))).one()
    assert (conversation.step, conversation.data) == (None, {})
