"""A resident making their wish a formal appeal (handlers/appeals.py), at the conversation
level: offered after a wish, `/appeal` on Telegram and the web chat, `ӨТҮНҮЧ` / `ОБРАЩЕНИЕ` /
`APPEAL` by SMS; the name and address asked in private steps and sealed; the number and the
due date told; what cannot become an appeal, or already is one, said so; `/forget` unseals.
On both databases (tests/conversation.py), a municipality of its own per test."""

from __future__ import annotations

import io
import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.commands import rotation
from bot.runtime import housekeeping
from handlers import appeals, free_text
from handlers.dates import Day
from handlers.pseudonyms import Pseudonyms
from handlers.types import Text
from handlers.working_days import add_working_days
from storage.models import Appeal, InboundDelivery, Municipality, Wish
from storage.models import Conversation as ConversationRow
from storage.queries import appeals as appeal_rows
from tests.conftest import SECRET_KEY, Civicbot, Say
from tests.conversation import Conversation, World
from tests.places import category

_places = itertools.count(1)
NAME, ADDRESS = "Асанов Бакыт Сапарович", "Таш-Булак айылы, Ленин көчөсү, 5"
# By SMS a plain text's words tell its language (bot/channels/sms): each in the resident's.
SMS_DETAILS = {
    "ky": ("Өмүрбеков Бакыт Сапар уулу", "Таш-Булак айылы, Ленин көчөсү, 5"),
    "ru": ("Асанов Бакыт Сапарович", "село Таш-Булак, улица Ленина, 5"),
    "en": ("Asanov Bakyt", "Tash-Bulak, Lenin street 5"),
}


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    return conversation_database_url


async def fresh_place(civicbot: Civicbot) -> str:
    key = f"appeal_{next(_places)}"
    names = ("--name-ky", f"Айыл {key}", "--name-ru", f"Село {key}", "--name-en", key)
    rc, _, err = await civicbot("municipality", "add", key, "--region", "naryn", *names)
    assert rc == 0, err
    return key


async def with_wish(
    world: World, place: str, text: str, channel: str = "telegram", language: str = "ky"
) -> tuple[Conversation, list[str]]:
    """A resident of the place who left one wish to change; what they were told."""
    resident = world.conversation(channel, language)
    if channel == "sms":
        keyword = {"ky": "ЖЕР", "ru": "МЕСТО", "en": "PLACE"}[language]
        await resident.send(f"{keyword} {place}")
        change = {"ky": "ӨЗГӨРТ", "ru": "ИЗМЕНИТЬ", "en": "CHANGE"}[language]
        return resident, await resident.send(f"{change} 3 {text}")
    await resident.send(f"/start m-{place}")
    await resident.send("/change")
    await resident.press(category("street_lighting")[language])
    return resident, await resident.send(text)


async def wish_of(world: World, text: str) -> Wish:
    async with world.db.session() as session:
        wish = await session.scalar(select(Wish).where(Wish.text == text))
    assert wish is not None, text
    return wish


async def appeal_of(world: World, text: str) -> Appeal | None:
    async with world.db.session() as session:
        return await session.scalar(
            select(Appeal).join(Wish, Wish.id == Appeal.wish_id).where(Wish.text == text)
        )


async def code_of(world: World, place: str) -> int:
    async with world.db.session() as session:
        code = await session.scalar(select(Municipality.code).where(Municipality.key == place))
    assert code is not None
    return int(code)


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Bishkek")).date()


@pytest.mark.parametrize("language", ["ky", "ru", "en"])
async def test_a_telegram_wish_becomes_an_appeal_with_its_number_and_due_date(
    world: World, civicbot: Civicbot, say: Say, language: str
) -> None:
    place = await fresh_place(civicbot)
    text = f"Көчөдө жарык жок {language}"
    resident, saved = await with_wish(world, place, text, language=language)
    assert say(language, "appeal.offer") in saved[-1]  # offered after the wish
    wish = await wish_of(world, text)

    [asked] = await resident.send("/appeal")
    assert say(language, "appeal.intro", reference=wish.reference) in asked
    assert asked.endswith(say(language, "appeal.name_prompt"))
    [again] = await resident.send("12345")  # digits only: said why, asked again
    prompt = say(language, "appeal.name_prompt")
    assert again == f"{say(language, 'name.letters')}\n\n{prompt}"
    [again] = await resident.send("x" * 60 + " " + "y" * 60)
    assert again.startswith(say(language, "error.too_long", limit=100, length=121))
    assert (await resident.state()).step == appeals.NAME  # type: ignore[union-attr]
    [address] = await resident.send(NAME.lower())
    assert address == say(language, "appeal.address_prompt")
    [registered] = await resident.send(ADDRESS)

    appeal = await appeal_of(world, text)
    assert appeal is not None
    number = f"{await code_of(world, place)}-{today().year}-1"
    due = add_working_days(today(), 14)
    assert (appeal.number, appeal.registered_on, appeal.due_on) == (number, today(), due)
    assert registered == say(
        language,
        "appeal.registered",
        reference=wish.reference,
        number=number,
        days=14,
        due=Day(due, language),
    )
    # Sealed at rest under its own key: the clear name is nowhere in the row.
    assert appeal.sealed is not None and NAME not in appeal.sealed
    assert appeals.identity(appeal, world.pseudonyms) == {"name": NAME, "address": ADDRESS}
    assert (await resident.state()).step is None  # type: ignore[union-attr]

    [already] = await resident.send(f"/appeal {wish.reference}")
    assert already == say(
        language, "appeal.already", reference=wish.reference, number=number, due=Day(due, language)
    )


async def test_the_web_chat_makes_an_appeal_as_telegram_does(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    visitor, saved = await with_wish(world, place, "Бакчада орун жок", "web", "ru")
    assert say("ru", "appeal.offer") in saved[-1]
    await visitor.send("/appeal")
    assert await visitor.send(NAME) == [say("ru", "appeal.address_prompt")]
    [registered] = await visitor.send(ADDRESS)
    appeal = await appeal_of(world, "Бакчада орун жок")
    assert appeal is not None and appeal.number in registered
    assert appeals.identity(appeal, world.pseudonyms) == {"name": NAME, "address": ADDRESS}


@pytest.mark.parametrize("channel", ["telegram", "sms"])
async def test_what_the_appellant_types_is_never_kept_with_a_delivery(
    world: World, civicbot: Civicbot, channel: str
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, f"Суу жок {channel}", channel)
    await resident.send("/appeal" if channel == "telegram" else "ӨТҮНҮЧ")
    # What a redelivery of each step's message gets back is what was kept with it: nothing
    # on a chat, the generic private text by SMS (bot/channels/sms/channel.kept_text).
    # (By SMS in the language the words tell: NAME reads as Russian.)
    generic = [
        [world.catalogues.text(language, Text("private.already_answered"), "sms")]
        for language in ("ky", "ru", "en")
    ]
    kept = [[]] if channel == "telegram" else generic
    for typed in (NAME, ADDRESS):
        said = await resident.send(typed)
        assert said and said not in kept
        assert await resident.redeliver() in kept
    assert await appeal_of(world, f"Суу жок {channel}") is not None
    async with world.db.session() as session:
        replies = [reply or "" for reply in await session.scalars(select(InboundDelivery.reply))]
    assert not any("Асанов" in reply or "Ленин" in reply for reply in replies)


@pytest.mark.parametrize(
    ("language", "keyword"), [("ky", "ӨТҮНҮЧ"), ("ru", "обращение"), ("en", "APPEAL")]
)
async def test_an_sms_resident_appeals_in_three_messages(
    world: World, civicbot: Civicbot, say: Say, language: str, keyword: str
) -> None:
    place = await fresh_place(civicbot)
    text = f"Жолдо чуңкур {language}"
    resident, saved = await with_wish(world, place, text, "sms", language)
    assert "/appeal" not in saved[0]  # an SMS answer stays one segment, with no /command
    wish = await wish_of(world, text)

    def sms(key: str, **values: object) -> str:
        return resident.world.catalogues.text(language, Text(key, values), "sms")

    [asked] = await resident.send(f"{keyword} {wish.reference}")
    assert asked == f"{sms('appeal.intro', reference=wish.reference)} {sms('appeal.name_prompt')}"
    name, address_given = SMS_DETAILS[language]
    [address] = await resident.send(name)
    assert address == sms("appeal.address_prompt")
    [registered] = await resident.send(address_given)
    appeal = await appeal_of(world, text)
    assert appeal is not None
    assert registered == sms(
        "appeal.registered",
        reference=wish.reference,
        number=appeal.number,
        days=14,
        due=Day(appeal.due_on, language),
    )
    assert appeals.identity(appeal, world.pseudonyms) == {"name": name, "address": address_given}


async def test_only_a_resident_s_own_wish_to_change_becomes_an_appeal(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    other, _ = await with_wish(world, place, "Бирөөнүн тилеги")
    theirs = await wish_of(world, "Бирөөнүн тилеги")
    resident = world.conversation("telegram", "en")
    assert await resident.send("/appeal") == [say("en", "appeal.no_wish")]
    await resident.send(f"/start m-{place}")
    assert await resident.send(f"/appeal {theirs.reference}") == [
        say("en", "appeal.not_found", reference=theirs.reference)
    ]
    await resident.send("/great")
    await resident.press(category("street_lighting")["en"])
    [saved] = await resident.send("The new lamps are great")
    assert say("en", "appeal.offer") not in saved
    great = await wish_of(world, "The new lamps are great")
    assert await resident.send(f"/appeal {great.reference}") == [
        say("en", "appeal.change_only", reference=great.reference)
    ]
    assert await appeal_of(world, "Бирөөнүн тилеги") is None
    # A wish with no one behind it (a street card, or its resident gone by /forget) stays
    # a signal.
    await other.send("/forget")
    await other.press(other.buttons()[0])
    assert await resident.send(f"/appeal {theirs.reference}") == [
        say("en", "appeal.anonymous", reference=theirs.reference)
    ]


async def test_forget_unseals_the_appeal_which_stays_on_the_clock(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, "Таштанды чыгарылбайт")
    await resident.send("/appeal")
    await resident.send(NAME)
    await resident.send(ADDRESS)
    [held] = await resident.send("/mydata")
    assert say("ky", "appeal.mydata", count=1) in held
    await resident.send("/forget")
    await resident.press(resident.buttons()[0])
    appeal = await appeal_of(world, "Таштанды чыгарылбайт")
    assert appeal is not None
    assert appeal.sealed is None and appeal.answered_on is None
    assert appeals.identity(appeal, world.pseudonyms) == {}
    assert (await wish_of(world, "Таштанды чыгарылбайт")).person_id is None


async def test_a_key_rotation_reseals_appeals_so_they_open_without_the_old_key(
    world: World, civicbot: Civicbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, "Ичүүчү суу жок")
    await resident.send("/appeal")
    await resident.send(NAME)
    await resident.send(ADDRESS)
    new_key = "a-new-test-key-of-at-least-32-characters"
    try:
        monkeypatch.setenv("SECRET_KEY", new_key)
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", SECRET_KEY)
        rc, _, err = await civicbot("secret", "rotate")
        assert rc == 0, err
        appeal = await appeal_of(world, "Ичүүчү суу жок")
        assert appeal is not None
        opened = appeals.identity(appeal, Pseudonyms(new_key))  # the old key forgotten
        assert opened == {"name": NAME, "address": ADDRESS}
    finally:  # the module's other tests read appeals with the test key
        monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", new_key)
        assert (await civicbot("secret", "rotate"))[0] == 0


async def age_draft(world: World, who: Conversation) -> None:
    """The resident's draft as if left long ago (its expiry passed)."""
    state = await who.state()
    assert state is not None and state.step is not None
    async with world.db.session() as session, session.begin():
        row = await session.get(ConversationRow, state.person_id)
        assert row is not None
        row.data = {**row.data, "expires": "2000-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("step", [appeals.NAME, appeals.ADDRESS])
async def test_an_appeal_left_unfinished_expires_and_a_later_text_is_a_new_message(
    world: World, civicbot: Civicbot, step: str
) -> None:
    place = await fresh_place(civicbot)
    text = f"Мектепке жол жок {step}"
    resident, _ = await with_wish(world, place, text, "sms")
    await resident.send("ӨТҮНҮЧ")
    if step == appeals.ADDRESS:
        await resident.send(NAME)
    assert (await resident.state()).step == step  # type: ignore[union-attr]
    await age_draft(world, resident)
    # A week later: a new wish, not the appellant's name or address.
    [asked] = await resident.send("Жарык жок көчөдө")
    assert "ӨТҮНҮЧ" not in asked and await appeal_of(world, text) is None
    state = await resident.state()
    assert state is not None and state.step == free_text.DRAFT
    assert state.data["text"] == "Жарык жок көчөдө"  # kept, asked about: nothing lost


async def test_the_sweep_wipes_an_unfinished_appeal_with_the_sealed_name(
    world: World, civicbot: Civicbot
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, "Ооруканага жол жок")
    await resident.send("/appeal")
    await resident.send(NAME)
    state = await resident.state()
    assert state is not None and "sealed" in state.data
    await housekeeping.sweep(world.db)
    assert (await resident.state()).step == appeals.ADDRESS  # type: ignore[union-attr]
    await age_draft(world, resident)
    await housekeeping.sweep(world.db)
    state = await resident.state()
    assert state is not None and (state.step, state.data) == (None, {})


@pytest.mark.parametrize(
    ("channel", "sent"),
    [("sms", "ОБРАЩЕНИЕ: на улице нет света"), ("telegram", "/appeal на улице нет света")],
)
async def test_words_after_the_appeal_keyword_are_a_wish_kept_not_a_reference(
    world: World, civicbot: Civicbot, channel: str, sent: str
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, f"Биринчи тилек {channel}", channel, "ru")
    [answer] = await resident.send(sent)
    assert "НА" not in answer.split() and "на улице" not in answer
    state = await resident.state()
    assert state is not None and state.data.get("text") == "на улице нет света"


async def test_a_name_after_the_appeal_keyword_is_never_echoed(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, "Экинчи тилек", "sms", "en")
    [answer] = await resident.send("APPEAL Asanov Bakyt")
    assert "ASANOV" not in answer.upper()
    assert await appeal_of(world, "Экинчи тилек") is None


async def test_a_key_rotation_never_brings_back_a_name_forget_erased_meanwhile(
    world: World, civicbot: Civicbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, "Унутулган өтүнүч")
    await resident.send("/appeal")
    await resident.send(NAME)
    await resident.send(ADDRESS)
    read = appeal_rows.sealed_appeals

    async def then_forget(session: object) -> list[tuple[int, str]]:
        """The rotation has read the seals; the resident says /forget before it writes."""
        seals = await read(session)  # type: ignore[arg-type]
        await resident.send("/forget")
        await resident.press(resident.buttons()[0])
        return seals

    monkeypatch.setattr(appeal_rows, "sealed_appeals", then_forget)
    rotating = Pseudonyms("a-new-test-key-of-at-least-32-characters", [SECRET_KEY])
    await rotation.rekey_appeals(world.db, rotating)
    appeal = await appeal_of(world, "Унутулган өтүнүч")
    assert appeal is not None and appeal.sealed is None


async def test_civicbot_chat_counts_an_appeal_s_days_as_serve_does(
    world: World, database_url: str, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`civicbot chat` sets APPEAL_ANSWER_DAYS and TIMEZONE for appeals as `serve` does."""
    from bot.channels.terminal.channel import chat
    from bot.runtime.config import Settings

    monkeypatch.setattr(appeals, "RULES", appeals.RULES)  # restored for the other tests
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, appeal_answer_days=5)
    lines = ["/start", "3", "4", "1", "/change", "4", "Potholes by the school gate", "/appeal"]
    out = io.StringIO()
    given = io.StringIO("\n".join([*lines, NAME, ADDRESS, ""]) + "\n")
    assert await chat(settings, given, out) == 0
    appeal = await appeal_of(world, "Potholes by the school gate")
    assert appeal is not None
    assert appeal.due_on == add_working_days(appeal.registered_on, 5)
    registered = say(
        "en",
        "appeal.registered",
        reference=appeal.wish.reference,
        number=appeal.number,
        days=5,
        due=Day(appeal.due_on, "en"),
    )
    assert registered in out.getvalue()


async def test_a_draft_name_sealed_under_a_key_since_dropped_is_asked_again(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    place = await fresh_place(civicbot)
    resident, _ = await with_wish(world, place, "Көчө караңгы")
    await resident.send("/appeal")
    await resident.send(NAME)
    state = await resident.state()
    assert state is not None
    foreign = appeals.sealer_for(Pseudonyms("another-key-of-at-least-32-characters"))
    async with world.db.session() as session, session.begin():
        row = await session.get(ConversationRow, state.person_id)
        assert row is not None
        row.data = {**row.data, "sealed": foreign.seal({"name": NAME})}
    assert await resident.send(ADDRESS) == [say("ky", "appeal.name_prompt")]
    assert (await resident.state()).step == appeals.NAME  # type: ignore[union-attr]
    assert await appeal_of(world, "Көчө караңгы") is None
