"""`civicbot poll add|list|send|close`: a poll made, its audience by channel and its SMS cost
shown before sending, the sending planned once (one row per recipient, however many times
`send --yes` runs), the SMS cap kept, and every bad argument refused in one line."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from storage import queries
from storage.db import Database
from storage.models import Person, Poll, PollSend
from tests.conftest import Civicbot, rows

NARYN = "naryn_city"
# channel, id on it, language, village number (None: not said)
PEOPLE = [
    ("telegram", "1001", "ky", 1),
    ("telegram", "1002", "ru", None),
    ("sms", "+996700000001", "ky", 2),
    ("sms", "+996700000002", "ru", 1),
    ("sms", "+996700000003", "en", None),
    ("whatsapp", "+996700000004", "ky", 1),
    ("web", "web-visitor", "ky", 1),  # unreachable: never in an audience
]


async def people_of_naryn(
    database_url: str, people: Sequence[tuple[str, str, str, int | None]] = PEOPLE
) -> None:
    """Residents of Naryn (with two villages), and one resident of elsewhere."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            naryn = await queries.municipality_by_key(session, NARYN)
            other = await queries.municipality_by_key(session, "tokmok")
            assert naryn is not None and other is not None
            villages = {
                n: (await queries.add_village(session, naryn.id, {"ky": f"Айыл {n}"})).id
                for n in (1, 2)
            }
            for channel, user_id, language, village in people:
                session.add(
                    Person(
                        channel=channel,
                        channel_user_id=user_id,
                        language=language,
                        municipality_id=naryn.id,
                        village_id=villages.get(village) if village else None,
                    )
                )
            session.add(
                Person(channel="telegram", channel_user_id="2001", municipality_id=other.id)
            )
            session.add(  # opted out: never in an audience
                Person(
                    channel="sms",
                    channel_user_id="+996700000009",
                    municipality_id=naryn.id,
                    opted_out=True,
                )
            )
    finally:
        await db.close()


async def poll_added(civicbot: Civicbot, *extra: str) -> str:
    code, out, err = await civicbot(
        "poll",
        "add",
        "--municipality",
        NARYN,
        "--question-ky",
        "Кайсы көчөнү биринчи оңдоо керек?",
        "--option-ky",
        "Ленин көчөсү",
        "--option-ky",
        "Токтогул көчөсү",
        "--closes",
        "2099-12-20",
        *extra,
    )
    assert code == 0, err
    found = re.match(r"(\d+): ", out)
    assert found, out
    return found.group(1)


async def test_send_shows_the_audience_and_cost_then_plans_each_recipient_once(
    civicbot: Civicbot, database_url: str
) -> None:
    await people_of_naryn(database_url)
    code = await poll_added(civicbot)

    status, out, _ = await civicbot("poll", "send", code)
    assert status == 0
    # 2 Telegram, 3 SMS, 1 WhatsApp; no template set, so WhatsApp is billed as SMS: 4 × 2.0
    assert f"{code}: audience: 6 (sms 3, telegram 2, whatsapp 1)" in out
    assert "SMS: 4 messages, 4 segments × 2.00 som = 8.00 som" in out
    assert "not sent" in out
    assert await rows(database_url, PollSend) == []

    status, out, _ = await civicbot("poll", "send", code, "--yes")
    assert status == 0 and f"{code}: open; 6 to send" in out
    status, out, _ = await civicbot("poll", "send", code, "--yes")
    assert status == 0 and f"{code}: open; 0 to send" in out
    planned = await rows(database_url, PollSend)
    assert len(planned) == 6 == len({p.person_id for p in planned})
    assert {p.status for p in planned} == {"pending"}
    (poll,) = await rows(database_url, Poll)
    assert poll.status == "open" and poll.sent_at is not None

    status, out, _ = await civicbot("poll", "list")
    assert status == 0
    assert re.search(rf"^{code}\tnaryn_city\tsingle\topen\t.*\tsent 0/6, pending 6\t", out, re.M)


async def test_the_sms_cap_skips_and_counts_those_past_it(
    civicbot: Civicbot, database_url: str
) -> None:
    await people_of_naryn(database_url)
    code = await poll_added(civicbot, "--sms-cap", "2")
    _status, out, _ = await civicbot("poll", "send", code)
    assert "SMS: 2 messages, 2 segments × 2.00 som = 4.00 som; 2 past the SMS cap" in out
    await civicbot("poll", "send", code, "--yes")
    await civicbot("poll", "send", code, "--yes")  # the cap holds across runs
    planned = await rows(database_url, PollSend)
    paid = [p for p in planned if p.channel in ("sms", "whatsapp")]
    assert sorted(p.status for p in paid) == ["pending", "pending", "skipped", "skipped"]
    assert {p.note for p in paid if p.status == "skipped"} == {"sms_cap"}
    assert [p.status for p in planned if p.channel == "telegram"] == ["pending", "pending"]


async def test_a_poll_of_some_villages_says_how_many_with_no_village_are_left_out(
    civicbot: Civicbot, database_url: str
) -> None:
    await people_of_naryn(database_url)
    code = await poll_added(civicbot, "--villages", "1")
    status, out, _ = await civicbot("poll", "send", code, "--yes")
    assert status == 0
    assert "audience: 3 (sms 1, telegram 1, whatsapp 1)" in out
    assert "left out: 2 with no known village" in out


async def test_close_and_the_budget_alias(civicbot: Civicbot, database_url: str) -> None:
    status, out, err = await civicbot(
        "budget", "add", "--municipality", NARYN, "--question-ky", "Бюджет 2027",
        "--option-ky", "Жол", "--option-ky", "Мектеп", "--cost", "300000", "--cost", "500000",
        "--budget-total", "600000", "--closes", "2099-01-31T18:00",
    )  # fmt: skip
    assert status == 0, err
    code = out.split(":")[0]
    db = Database(database_url)
    try:
        async with db.session() as session:
            poll = await session.scalar(select(Poll).where(Poll.code == code))
            assert poll is not None and poll.kind == "budget" and poll.budget_total == 600000
            assert [o.cost for o in await queries.options_of(session, poll.id)] == [300000, 500000]
    finally:
        await db.close()
    assert (await civicbot("poll", "close", code))[:2] == (0, f"{code}: closed\n")
    status, _, err = await civicbot("poll", "close", code)
    assert status == 2 and err == f"civicbot: poll {code} is closed already\n"
    status, _, err = await civicbot("poll", "send", code, "--yes")
    assert status == 2 and "closed: nothing to send" in err


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--option-ky", "Жалгыз"], "give 2–9 options"),
        (["--option-ky", "a", "--option-ky", "b", "--option-ru", "а"], "--option-ru must come 2"),
        (["--option-ky", "a", "--option-ky", "b", "--kind", "budget"], "needs --cost N for each"),
        (["--option-ky", "a", "--option-ky", "b", "--cost", "5", "--cost", "6"], "--cost goes"),
        (["--option-ky", "a", "--option-ky", "b", "--villages", "7"], "no village"),
        (["--option-ky", "a", "--option-ky", "b", "--closes", "2020-01-01"], "after now"),
        (["--option-ky", "a", "--option-ky", "b", "--closes", "tomorrow"], "must be a date"),
        (["--option-ky", "a", "--option-ky", "b", "--kind", "priority"], "--max-choices 2–1"),
    ],
)
async def test_bad_arguments_exit_with_one_line(
    civicbot: Civicbot, arguments: list[str], reason: str
) -> None:
    given = ["poll", "add", "--municipality", NARYN, "--question-ky", "Суроо"]
    if "--closes" not in arguments:
        arguments = [*arguments, "--closes", "2099-01-01"]
    status, out, err = await civicbot(*given, *arguments)
    assert status == 2 and out == ""
    assert err.startswith("civicbot: ") and reason in err and err.count("\n") == 1


async def test_unknown_codes_and_places_are_refused(civicbot: Civicbot) -> None:
    assert (await civicbot("poll", "send", "999999"))[0::2] == (
        2,
        "civicbot: unknown poll '999999'\n",
    )
    status, _, err = await civicbot("poll", "list", "--municipality", "atlantis")
    assert status == 2 and "unknown municipality" in err
