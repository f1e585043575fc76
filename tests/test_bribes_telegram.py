"""Reporting a bribe on Telegram, at the conversation level (tests/conversation.py): the
flow's buttons and answers as Telegram renders them, and the reports as exported. One
database per module, a fresh resident per test: the export is read for the test's new rows."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.runtime import housekeeping
from handlers.bribes import month_name, recent_months
from storage.db import Database
from storage.models import Conversation as ConversationRow
from tests import places
from tests.conftest import ExportWishes, Say
from tests.conversation import Conversation, World

OUTCOME_LABELS = {
    "paid": {"ky": "Төлөдүм", "ru": "Заплатил(а)", "en": "I paid"},
    "not_asked": {"ky": "Эч ким сураган жок", "ru": "Никто не просил", "en": "Nobody asked"},
}
SAVE = {"ky": "Сактоо", "ru": "Сохранить", "en": "Save"}
SKIP = {"ky": "Өткөрүп жиберүү", "ru": "Пропустить", "en": "Skip"}
DISCARD = {"ky": "Жокко чыгаруу", "ru": "Отменить", "en": "Discard"}


def service(code: int, language: str) -> str:
    from storage.domain import bribe_services

    return next(s for s in bribe_services() if s["code"] == code)[language]


def this_month() -> list[str]:
    return recent_months(dt.datetime.now(ZoneInfo("Asia/Bishkek")).date())


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the exports below read it."""
    return conversation_database_url


async def onboarded(world: World, language: str) -> Conversation:
    resident = world.conversation("telegram", language)
    await resident.send("/start m-lenin")
    await resident.press(places.LANGUAGE_NAMES[language])
    return resident


async def reports_since(export_bribes: ExportWishes, known: set[str]) -> list[dict[str, str]]:
    """The exported reports whose references were not in `known` (the test's own)."""
    return [row for row in await export_bribes() if row["reference"] not in known]


async def references(export_bribes: ExportWishes) -> set[str]:
    return {row["reference"] for row in await export_bribes()}


@pytest.mark.parametrize("language", places.LANGUAGES)
async def test_a_report_from_start_to_reference(
    world: World,
    say: Say,
    export_bribes: ExportWishes,
    language: str,
) -> None:
    resident = await onboarded(world, language)
    known = await references(export_bribes)

    replies = await resident.send("/bribe")
    assert replies[0].startswith(say(language, "bribe.intro"))
    assert resident.buttons() == [service(c, language) for c in (1, 2, 3, 4, 5, 6, 7, 8, 9, 0)]
    await resident.press(service(3, language))
    replies = await resident.press(OUTCOME_LABELS["paid"][language])
    assert replies == [say(language, "bribe.amount_prompt")]
    replies = await resident.send("5 000 сом")
    assert resident.buttons() == [month_name(m, language) for m in this_month()]
    last_month = this_month()[1]
    await resident.press(month_name(last_month, language))
    replies = await resident.send("Жер үчүн акча сурашты, тел 0555 123 456")
    assert "***" in replies[0] and "123 456" not in replies[0]  # shown as it will be kept
    assert (
        say(
            language,
            "bribe.confirm",
            service=service(3, language),
            outcome=OUTCOME_LABELS["paid"][language],
            amount=say(language, "bribe.amount_value", amount=5000),
            month=month_name(last_month, language),
            place=places.municipality("lenin")[language],
            text="Жер үчүн акча сурашты, тел ***",
        )
        == replies[0]
    )

    replies = await resident.press(SAVE[language])
    reference = re.search(r"\d{7}", replies[0])
    assert reference and replies[0] == say(language, "bribe.saved", reference=reference.group())

    rows = await reports_since(export_bribes, known)
    assert [
        (
            r["reference"],
            r["service"],
            r["service_key"],
            r["outcome"],
            r["amount"],
            r["month"],
            r["municipality"],
            r["channel"],
            r["text"],
            r["created_on"],
        )
        for r in rows
    ] == [
        (
            reference.group(),
            "3",
            "municipal_land",
            "paid",
            "5000",
            last_month,
            "lenin",
            "telegram",
            "Жер үчүн акча сурашты, тел ***",
            dt.datetime.now(ZoneInfo("Asia/Bishkek")).date().isoformat(),
        )
    ]


async def test_honest_service_is_recorded_without_amount(
    world: World, export_bribes: ExportWishes
) -> None:
    resident = await onboarded(world, "ky")
    known = await references(export_bribes)
    await resident.send("/bribe 1")  # the service can come with the command
    await resident.press("Эч ким сураган жок")  # no amount is asked after this
    await resident.press(month_name(this_month()[0], "ky"))
    await resident.press("Өткөрүп жиберүү")
    await resident.press("Сактоо")
    rows = await reports_since(export_bribes, known)
    assert [(r["service"], r["outcome"], r["amount"], r["text"]) for r in rows] == [
        ("1", "not_asked", "", "")
    ]


async def test_bad_amounts_months_and_texts_lose_nothing(
    world: World, say: Say, export_bribes: ExportWishes
) -> None:
    resident = await onboarded(world, "ru")
    known = await references(export_bribes)
    await resident.send("/bribe")
    await resident.press(service(4, "ru"))
    await resident.press("Заплатил(а)")
    prompt = say("ru", "bribe.amount_prompt")
    for text, problem in (
        ("много", say("ru", "bribe.amount_nonsense")),
        ("-500", say("ru", "bribe.amount_negative")),
        ("20 000 000", say("ru", "bribe.amount_too_big", limit="10 000 000")),
    ):
        assert await resident.send(text) == [problem + "\n\n" + prompt], text
    await resident.send("5k")

    # A month in the future is refused, even when the button is forged.
    nonce = resident.keyboard()[0][0][1]
    future = nonce.split(":")[0] + ":2099-01"
    replies = await resident.press_data(future)
    assert replies[0].startswith(say("ru", "error.stale_button"))
    await resident.press(month_name(this_month()[0], "ru"))

    replies = await resident.send("ы" * 501)
    assert replies[0].startswith(say("ru", "error.too_long", limit=500, length=501))
    await resident.send("Собирали на ремонт школы")
    await resident.press("Сохранить")
    rows = await reports_since(export_bribes, known)
    assert [(r["service"], r["amount"], r["text"]) for r in rows] == [
        ("4", "5000", "Собирали на ремонт школы")
    ]


async def test_leaving_midway_stores_nothing_and_keeps_no_draft(
    world: World,
    say: Say,
    export_bribes: ExportWishes,
) -> None:
    resident = await onboarded(world, "en")
    known = await references(export_bribes)
    for leave in ("/change", "/cancel", "/bribe"):
        await resident.send("/bribe")
        await resident.press(service(7, "en"))
        await resident.press("I paid")
        await resident.send("3000")
        await resident.send(leave)
    await resident.send("/bribe")
    await resident.press(service(7, "en"))
    await resident.press("Nobody asked")
    await resident.press(month_name(this_month()[0], "en"))
    await resident.press("Skip")
    assert await resident.press("Discard") == [say("en", "bribe.discarded")]
    assert await reports_since(export_bribes, known) == []

    draft = await resident.state()
    assert draft is not None and (draft.step, draft.data) == (None, {})


async def test_an_abandoned_draft_is_wiped_when_it_expires(world: World, database_url: str) -> None:
    resident = await onboarded(world, "ky")
    await resident.send("/bribe")
    await resident.press(service(2, "ky"))
    draft = await resident.state()
    assert draft is not None
    mine = select(ConversationRow).where(ConversationRow.person_id == draft.person_id)
    db = Database(database_url)
    try:
        assert await housekeeping.sweep(db) == 0  # not expired yet (nor any other's)
        async with db.session() as session, session.begin():
            conversation = (await session.scalars(mine)).one()
            assert conversation.data["service"] == 2
            conversation.data = {**conversation.data, "expires": "2000-01-01T00:00:00+00:00"}
        assert await housekeeping.sweep(db) == 1
    finally:
        await db.close()
    draft = await resident.state()
    assert draft is not None and (draft.step, draft.data) == (None, {})


async def test_five_reports_a_day_then_a_polite_no(
    world: World, say: Say, export_bribes: ExportWishes
) -> None:
    resident = await onboarded(world, "ky")
    known = await references(export_bribes)
    for _ in range(5):
        await resident.send("/bribe 9")
        await resident.press("Эч ким сураган жок")
        await resident.press(month_name(this_month()[0], "ky"))
        await resident.press("Өткөрүп жиберүү")
        replies = await resident.press("Сактоо")
        assert "Рахмат" in replies[0]
    assert await resident.send("/bribe") == [say("ky", "bribe.flood", limit=5)]
    assert len(await reports_since(export_bribes, known)) == 5


async def test_a_report_before_a_place_asks_for_it_then_carries_on(
    world: World, say: Say, export_bribes: ExportWishes
) -> None:
    resident = world.conversation("telegram", "en")
    known = await references(export_bribes)
    replies = await resident.send("/bribe 8")
    assert say("en", "bribe.place_first") in replies[0]
    await resident.press("Batken Region")
    await resident.press("Leilek District")
    replies = await resident.press("Beshkent")
    assert replies[0].startswith(say("en", "place.set", place="Beshkent"))
    assert "Permission to place advertising" in replies[0]  # service 8 was kept
    assert resident.buttons() == ["I paid", "Asked, I refused", "Nobody asked"]
    await resident.press("Asked, I refused")
    await resident.press("Skip")
    await resident.press(month_name(this_month()[0], "en"))
    await resident.press("Skip")
    await resident.press("Save")
    rows = await reports_since(export_bribes, known)
    assert [(r["municipality"], r["service"], r["outcome"]) for r in rows] == [
        ("beshkent", "8", "refused")
    ]
