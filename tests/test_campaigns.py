"""Youth street campaigns, as far as they are built: the operator's campaign commands, the
poster (its QR code read back), the cards, the tally and the campaign's end. Wishes
attributed through the link (/start c-CODE) and the SMS tag (#CODE) are tested at the
conversation level: tests/test_campaigns_conversation.py."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import zxingcpp
from PIL import Image
from sqlalchemy import select, update

from handlers.dates import span
from handlers.weeks import Week
from storage.db import Database
from storage.models import Campaign, Municipality, Person, Wish, utcnow
from tests.conftest import Civicbot, Say, StartBot, execute, resident_of
from tests.digests import invite_code, official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.initiatives import today
from tests.places import municipality
from tests.twilio import inbound_form, post_signed, twilio_settings


def days(offset: int) -> str:
    return (today() + dt.timedelta(days=offset)).isoformat()


async def campaign(civicbot: Civicbot, code: str, starts: int = -1, ends: int = 2) -> None:
    rc, out, err = await civicbot(
        "campaign", "add", code, "--municipality", "naryn_city",
        "--name", "Үмүт дарагы", "--starts", days(starts), "--ends", days(ends),
    )  # fmt: skip
    assert rc == 0, err
    assert out.startswith(f"{code.upper()}: naryn_city")


async def stored_wishes(database_url: str) -> list[Wish]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list((await session.scalars(select(Wish).order_by(Wish.id))).all())
    finally:
        await db.close()


async def test_campaign_commands_and_their_bad_input(civicbot: Civicbot) -> None:
    await campaign(civicbot, "naryn25")
    rc, out, _ = await civicbot("campaign", "list")
    assert rc == 0 and "NARYN25\tnaryn_city" in out and "\trunning\t" in out
    for arguments, reason in (
        (["add", "NARYN25", "--starts", days(0), "--ends", days(1)], "exists already"),
        (["add", "OLD", "--starts", days(-9), "--ends", days(-2)], "in the past"),
        (["add", "BACK", "--starts", days(3), "--ends", days(1)], "before --starts"),
        (["add", "X Y", "--starts", days(0), "--ends", days(1)], "the code must be"),
        (["add", "NOPLACE", "--starts", days(0), "--ends", days(1)], "unknown municipality"),
        (["close", "NOSUCH"], "unknown campaign"),
    ):
        place = "atlantis" if arguments[1] == "NOPLACE" else "naryn_city"
        extra = ["--municipality", place, "--name", "x"] if arguments[0] == "add" else []
        rc, _, err = await civicbot("campaign", *arguments, *extra)
        assert rc == 2 and reason in err, err
    rc, out, _ = await civicbot("campaign", "close", "naryn25")
    assert rc == 0
    rc, _, err = await civicbot("campaign", "close", "NARYN25")
    assert rc == 2 and "was closed" in err
    rc, out, _ = await civicbot("campaign", "list")
    assert "\tclosed\t" in out


async def test_the_poster_carries_the_link_in_its_qr_code(
    civicbot: Civicbot, tmp_path: Path
) -> None:
    await campaign(civicbot, "TREE")
    png, pdf = tmp_path / "tree.png", tmp_path / "tree.pdf"
    rc, out, err = await civicbot(
        "campaign", "poster", "TREE", "--bot", "civic_test_bot", "--sms", "+996 700 000 000",
        "--output", str(png), "--pdf", str(pdf),
    )  # fmt: skip
    assert rc == 0, err
    link = "https://t.me/civic_test_bot?start=c-TREE"
    assert link in out
    with Image.open(png) as page:
        assert page.size == (2480, 3508)  # A4 at 300 dpi
        assert round(page.info["dpi"][0]) == 300
        [found] = zxingcpp.read_barcodes(page)
    assert found.text == link and found.format == zxingcpp.BarcodeFormat.QRCode
    assert pdf.read_bytes().startswith(b"%PDF")

    from bot.reports import poster

    naryn = Municipality(name_ky="Нарын шаары", name_ru="город Нарын", name_en="Naryn city")
    tree = Campaign(code="TREE", name="Үмүт дарагы", municipality=naryn,
                    starts_on=dt.date(2026, 12, 1), ends_on=dt.date(2026, 12, 3))  # fmt: skip
    made = poster.make(tree, "civic_test_bot", "+996 700 000 000")
    lines = [text for text, _, _ in made.lines]
    assert "Мен өзгөрткүм келет!   Бул – мыкты!" in lines
    assert "Я хочу изменить!   Это – здорово!" in lines
    assert "ӨЗГӨРТ #TREE <текст>   МЫКТЫ #TREE <текст>" in lines
    assert "SMS +996 700 000 000:" in lines and "Үмүт дарагы" in lines
    # The municipality, and the days as the bot writes them, in each of the poster's two
    # languages; above the code, under the campaign's name.
    where = ["Нарын шаары · 1-декабрь – 3-декабрь", "город Нарын · 1 декабря – 3 декабря"]
    assert lines[3:5] == where and made.above == 5
    assert not [line for line in lines if re.search(r"\d\d\.\d\d\.\d{4}|\d{4}-\d\d-\d\d", line)]

    rc, _, err = await civicbot("campaign", "poster", "TREE", "--output", str(png))
    assert rc == 2 and "--bot" in err  # no token to ask Telegram with, and no --bot


async def test_the_page_and_the_tally_write_a_campaigns_days_as_the_poster_does(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot
) -> None:
    """One style of day for people, per language (handlers/dates.py): the public page and
    the organizer's /campaign say "1 декабря – 3 декабря", as the poster, not ISO dates."""
    await campaign(civicbot, "TREE")
    runtime = await start_bot("webhook")
    first, last = today() - dt.timedelta(days=1), today() + dt.timedelta(days=2)
    for language in ("ky", "ru", "en"):
        url = f"{runtime.base_url}/m/naryn_city?lang={language}"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            page = await response.text()
        assert f"Үмүт дарагы ({span(first, last, language)})" in page
        assert first.isoformat() not in page
    lead = await organizer(runtime, telegram, civicbot, 7451)
    [tally] = await lead.send("/campaign")
    assert f"«Үмүт дарагы» (#TREE), {span(first, last, 'ky')}:" in tally


async def organizer(runtime: Any, telegram: FakeTelegram, civicbot: Civicbot, user_id: int) -> Any:
    code = await invite_code(civicbot, "organizer", "naryn_city")
    person = resident_of(runtime, telegram, "webhook", user_id, "ky")
    await person.send(f"/start inv-{code}")
    return person


async def test_card_mode_types_the_paper_cards(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    await campaign(civicbot, "TREE")
    runtime = await start_bot("webhook")
    passer_by = resident_of(runtime, telegram, "webhook", 7400, "ky")
    assert await passer_by.send("/card") == [say("ky", "card.organizers_only")]

    volunteer = await organizer(runtime, telegram, civicbot, 7401)
    [prompt] = await volunteer.send("/card")
    assert prompt == say("ky", "card.prompt", name="Үмүт дарагы", count=0)
    assert await volunteer.send("+ Базардын жанында таштанды көп") == [
        say("ky", "card.saved", count=1, kind=say("ky", "kind.change"),
            category=say("ky", "category.garbage"), reference=(await refs(database_url))[-1])
    ]  # fmt: skip
    [saved] = await volunteer.send("* 7 Жаңы мектеп абдан жакшы")
    assert say("ky", "category.schools") in saved and say("ky", "kind.great") in saved
    # Typed under the wrong topic: the saved card's button puts it under another.
    schools_card = (await refs(database_url))[-1]
    saved_message = volunteer.newest_keyboard()
    assert await volunteer.press(say("ky", "card.topic_button")) == [
        say("ky", "card.topic_prompt", reference=schools_card)
    ]
    assert len(volunteer.buttons()) == 13
    kindergartens = say("ky", "category.kindergartens")
    assert await volunteer.press(kindergartens) == [
        say("ky", "card.refiled", reference=schools_card, category=kindergartens)
    ]
    # No sign and no kind chosen yet: the text waits for the kind, nothing is lost.
    [asked] = await volunteer.send("Суу жок үч күн")
    assert asked.startswith(say("ky", "card.which_kind"))
    [saved] = await volunteer.press(say("ky", "kind.change"))
    water = say("ky", "category.drinking_water")
    change = say("ky", "kind.change")
    third = say("ky", "card.saved", count=3, kind=change, category=water, reference="")
    assert saved.startswith(third)
    # Bad cards: said, and the card mode goes on.
    [empty] = await volunteer.send("+   ")
    assert empty.startswith(say("ky", "error.empty_text"))
    [long] = await volunteer.send("+ " + "ж" * 1001)
    assert long.startswith(say("ky", "error.too_long", limit=1000, length=1001))
    newest = (await refs(database_url))[-1]
    assert await volunteer.send("/undo") == [say("ky", "card.undone", reference=newest)]

    db = Database(database_url)
    try:
        async with db.session() as session:
            cards = list((await session.scalars(select(Wish).order_by(Wish.id))).all())
            typist = await session.scalar(select(Person.id).where(Person.channel_user_id == "7401"))
    finally:
        await db.close()
    assert [(c.kind, c.category) for c in cards] == [
        ("change", "garbage"),
        ("great", "kindergartens"),
    ]
    assert all(c.channel == "card" and c.person_id is None for c in cards)
    assert all(c.entered_by == typist and c.campaign_id is not None for c in cards)
    assert all(c.municipality is not None and c.municipality.key == "naryn_city" for c in cards)

    # Ten minutes on, the last card cannot be taken back any more.
    await execute(database_url, update(Wish).values(created_at=utcnow() - dt.timedelta(minutes=11)))
    assert await volunteer.send("/undo") == [say("ky", "card.nothing_to_undo", minutes=10)]
    # …nor filed under another topic.
    [button] = [b for row in saved_message["reply_markup"]["inline_keyboard"] for b in row]
    await volunteer.press_data(button["callback_data"], saved_message)
    [late] = await volunteer.press(say("ky", "category.roads"))
    assert late.startswith(say("ky", "card.too_late", minutes=10))
    assert [w.category for w in await stored_wishes(database_url)] == ["garbage", "kindergartens"]


async def test_two_volunteers_type_200_cards_at_once(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    await campaign(civicbot, "TREE")
    runtime = await start_bot("webhook")
    volunteers = [await organizer(runtime, telegram, civicbot, 7410 + n) for n in range(2)]
    for volunteer in volunteers:
        await volunteer.send("/card TREE")

    async def type_cards(volunteer: Any, first: int) -> None:
        for number in range(first, first + 100):
            sign = "+" if number % 2 else "*"
            await volunteer.send(f"{sign} Карточка {number}: жол начар")

    await asyncio.gather(type_cards(volunteers[0], 0), type_cards(volunteers[1], 100))
    texts = [w.text for w in await stored_wishes(database_url)]
    assert sorted(texts) == sorted(f"Карточка {n}: жол начар" for n in range(200))
    _, out, _ = await civicbot("campaign", "list")
    assert "\tchange 100\tgreat 100\t" in out


async def refs(database_url: str) -> list[str]:
    return [w.reference for w in await stored_wishes(database_url)]


async def test_export_campaigns_counts_cards_wishes_and_people(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    tmp_path: Path,
) -> None:
    """Counted by hand: two cards (one of each kind), one wish through the link and one by
    #TREE, two people reached online."""
    await campaign(civicbot, "TREE")
    runtime = await start_bot("webhook", **twilio_settings())
    volunteer = await organizer(runtime, telegram, civicbot, 7501)
    await volunteer.send("/card")
    await volunteer.send("+ Жол начар")
    await volunteer.send("* Парк сонун")
    visitor = resident_of(runtime, telegram, "webhook", 7502, "en")
    await visitor.send("/start c-TREE")
    await visitor.press("English")
    await visitor.leave_wish("change", "Roads", "The bridge is broken")
    form = inbound_form("+996555800200", "МЫКТЫ #TREE Мектеп жакшы")
    assert (await post_signed(runtime.base_url, "/sms/twilio", form))[0] == 200

    out = tmp_path / "campaigns.csv"
    rc, _, err = await civicbot("export", "campaigns", "--output", str(out))
    assert rc == 0, err
    with out.open(encoding="utf-8", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["code"], row["municipality"], row["state"]) == ("TREE", "naryn_city", "running")
    counts = ("cards_change", "cards_great", "online_change", "online_great", "people_reached")
    assert [row[name] for name in counts] == ["1", "1", "1", "1", "2"]

    # The weekly digest of the campaign's week has its section, counted the same way.
    this_week = Week.of(today())
    rc, preview, err = await civicbot(
        "digest", "preview", "--municipality", "naryn_city", "--lang", "en",
        "--period", str(this_week), "--chart", str(tmp_path / "chart.png"),
    )  # fmt: skip
    assert rc == 0, err
    assert "🌳 Campaigns this week:" in preview
    assert "«Үмүт дарагы» (#TREE): cards 2, wishes online 2" in preview


async def test_organizers_see_the_tally_and_create_a_campaign_in_telegram(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    await campaign(civicbot, "TREE")
    runtime = await start_bot("webhook")
    assert await resident_of(runtime, telegram, "webhook", 7600, "en").send("/campaign") == [
        say("en", "card.organizers_only")
    ]
    volunteer = await organizer(runtime, telegram, civicbot, 7601)
    await volunteer.send("/card")
    cards = ("+ 4 Жол начар", "+ 4 Чуңкур көп", "* 4 Жаңы көпүрө", "+ 1 Суу жок үч күн")
    for card in cards:
        await volunteer.send(card)
    start = len(telegram.calls)
    [tally] = await volunteer.send("/campaign")
    # Counted by hand: three change cards and one great; roads 2 + 1, water 1 + 0.
    assert "«Үмүт дарагы» (#TREE)" in tally and "өзгөрткүм келет 3, мыкты 1" in tally
    roads, water = (say("ky", f"category.{topic}") for topic in ("roads", "drinking_water"))
    lines = tally.splitlines()
    assert say("ky", "campaign.category", topic=roads, change=2, great=1) in lines
    assert say("ky", "campaign.category", topic=water, change=1, great=0) in lines
    assert lines.index(say("ky", "campaign.category", topic=roads, change=2, great=1)) < (
        lines.index(say("ky", "campaign.category", topic=water, change=1, great=0))
    )  # the busiest topic first
    # Two quotes, one of a topic and kind each: the busiest (roads to change) first, its
    # Kyrgyz-written card first; then the newest of the rest.
    assert [line for line in lines if line.startswith("   💬")] == [
        say("ky", "campaign.quote", text="Чуңкур көп", topic=roads),
        say("ky", "campaign.quote", text="Суу жок үч күн", topic=water),
    ]
    assert "https://t.me/civic_test_bot?start=c-TREE" in tally
    # The chart follows: one bar for each of the two topics.
    await telegram.wait_for_sends(
        lambda: any(c.method == "sendPhoto" for c in telegram.delivered_to(7601, start))
    )
    [photo] = [c for c in telegram.delivered_to(7601, start) if c.method == "sendPhoto"]
    assert photo.params["photo"]["filename"] == "campaign-TREE.png"
    with Image.open(io.BytesIO(photo.params["photo"]["content"])) as chart:
        assert chart.format == "PNG" and chart.height == 56 + 40 + 34 * 2 + 12
    assert await volunteer.press(say("ky", "campaign.new_button")) == [
        say("ky", "campaign.name_prompt")
    ]
    await volunteer.send("Таза шаар")
    example = f"{days(0)} {days(2)}"
    [wrong] = await volunteer.send(f"{days(3)} {days(1)}")  # reversed
    assert wrong == "\n\n".join(
        (say("ky", "campaign.bad_days"), say("ky", "campaign.days_prompt", example=example))
    )
    assert await volunteer.send(f"{days(0)} – {days(2)}") == [say("ky", "campaign.kinds_prompt")]
    assert volunteer.buttons() == [
        say("ky", f"campaign.kinds.{kinds}") for kinds in ("change,great", "change", "great")
    ]
    assert await volunteer.send("Экөөнү тең") == [  # typed, not pressed: asked again
        "\n\n".join((say("ky", "error.use_buttons"), say("ky", "campaign.kinds_prompt")))
    ]
    [created] = await volunteer.press(say("ky", "campaign.kinds.change"))
    _, listed, _ = await civicbot("campaign", "list")
    [row] = [line.split("\t") for line in listed.splitlines() if line.endswith("\tТаза шаар")]
    code = row[0]
    assert (row[1], row[2], row[3]) == ("naryn_city", days(0), days(2))
    db = Database(database_url)
    try:
        async with db.session() as session:
            kinds = await session.scalar(select(Campaign.kinds).where(Campaign.code == code))
    finally:
        await db.close()
    assert kinds == "change"  # the stand takes one kind: its cards need no sign
    link = f"https://t.me/civic_test_bot?start=c-{code}"
    assert created == say("ky", "campaign.created", name="Таза шаар", code=code, link=link)
    # The poster follows in the chat, to print: its QR code reads back as the link.
    await telegram.wait_for_sends(
        lambda: len([c for c in telegram.delivered_to(7601) if c.method == "sendDocument"]) >= 2
    )
    calls = telegram.delivered_to(7601)
    documents = [c.params["document"] for c in calls if c.method == "sendDocument"]
    assert [d["filename"] for d in documents] == [f"poster-{code}.png", f"poster-{code}.pdf"]
    with Image.open(io.BytesIO(documents[0]["content"])) as page:
        [found] = zxingcpp.read_barcodes(page)
    assert found.text == link
    assert documents[1]["content"].startswith(b"%PDF")
    # Text where the button was expected is a wish, not lost.
    await volunteer.send("/campaign")
    replies = await volunteer.send("Көчөдө жарык жок")
    assert replies[-1].startswith(say("ky", "wish.kind_prompt"))


async def test_the_end_of_a_campaign_reaches_the_officials_once(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    await campaign(civicbot, "TREE", starts=-2, ends=0)
    runtime = await start_bot("webhook")
    await official_on_telegram(runtime, telegram, civicbot, 7701, "ru", municipality="naryn_city")
    volunteer = await organizer(runtime, telegram, civicbot, 7702)
    await volunteer.send("/card")
    for text in ("+ Жол начар", "+ Суу жок", "* Парк сонун"):
        await volunteer.send(text)
    await runtime.stop()
    await execute(database_url, update(Campaign).values(ends_on=today() - dt.timedelta(days=1)))

    expected = say(
        "ru", "campaign.summary", name="Үмүт дарагы", code="TREE",
        cards_change=2, cards_great=1, online=0, people=0,
    )  # fmt: skip
    start = len(telegram.calls)
    again = await start_bot("webhook")  # the summaries job runs at start
    await telegram.wait_for_sends(
        lambda: any(m.method == "sendDocument" for m in telegram.delivered_to(7701, start))
    )
    await again.stop()
    once_more = await start_bot("webhook")
    await asyncio.sleep(1.0)
    await once_more.stop()
    texts = [call.params.get("text") for call in telegram.delivered_to(7701, start)]
    assert texts.count(expected) == 1
    assert not [t for t in (m.params.get("text") for m in telegram.delivered_to(7702, start))
                if t == expected]  # fmt: skip
    # The chart and the table of the cards follow the text, once.
    files = [c for c in telegram.delivered_to(7701, start) if c.method != "sendMessage"]
    assert [(c.method, c.params.get("caption")) for c in files] == [
        ("sendPhoto", say("ru", "campaign.chart_caption", name="Үмүт дарагы", code="TREE")),
        ("sendDocument", say("ru", "campaign.csv_caption", count=3)),
    ]
    with Image.open(io.BytesIO(files[0].params["photo"]["content"])) as chart:
        assert chart.height == 56 + 40 + 34 * 3 + 12  # roads, water, parks: three bars
    table = files[1].params["document"]
    assert table["filename"] == "campaign-TREE.csv"
    rows = list(csv.DictReader(io.StringIO(table["content"].decode("utf-8-sig"))))
    assert sorted(row[say("ru", "column.text")] for row in rows) == [
        "Жол начар", "Парк сонун", "Суу жок",
    ]  # fmt: skip
    assert {row["kind_key"] for row in rows} == {"change", "great"}
    # Cards name the campaign, never who typed them: no cell is the typist's chat id, and
    # the columns are the staff table's (reference, time, kind, topic, text, channel, status).
    assert not any(value == "7702" for row in rows for value in row.values())
    assert len(rows[0]) == 13 and "kind_key" in rows[0] and "municipality_key" in rows[0]


async def test_a_campaign_that_brought_nothing_says_so_at_its_end(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    await campaign(civicbot, "QUIET", starts=-3, ends=0)
    runtime = await start_bot("webhook")
    await official_on_telegram(runtime, telegram, civicbot, 7711, "en", municipality="naryn_city")
    await runtime.stop()
    await execute(database_url, update(Campaign).values(ends_on=today() - dt.timedelta(days=1)))
    start = len(telegram.calls)
    again = await start_bot("webhook")  # the summaries job runs at start
    expected = say("en", "campaign.summary_empty", name="Үмүт дарагы", code="QUIET")
    await telegram.wait_for_sends(
        lambda: any(m.params.get("text") == expected for m in telegram.delivered_to(7711, start))
    )
    await again.stop()
    assert [c.method for c in telegram.delivered_to(7711, start)] == ["sendMessage"]


async def test_an_organizer_invites_a_volunteer_who_types_cards(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    await campaign(civicbot, "TREE")
    runtime = await start_bot("webhook")
    lead = await organizer(runtime, telegram, civicbot, 7801)
    await lead.send("/campaign")
    menu = lead.newest_keyboard()
    [invitation] = await lead.press(say("ky", "campaign.volunteer_button"))
    link = re.search(r"https://t\.me/civic_test_bot\?start=(inv-\w+)", invitation)
    assert link is not None
    # The /campaign message keeps its buttons: a second volunteer's invite is one more press.
    assert not telegram.called("editMessageReplyMarkup")
    [button] = [b for row in menu["reply_markup"]["inline_keyboard"] for b in row
                if b["text"] == say("ky", "campaign.volunteer_button")]  # fmt: skip
    [another] = await lead.press_data(button["callback_data"], menu)
    second = re.search(r"https://t\.me/civic_test_bot\?start=(inv-\w+)", another)
    assert second is not None and second.group(1) != link.group(1)
    helper = resident_of(runtime, telegram, "webhook", 7802, "ru")
    [welcome, *_] = await helper.send(f"/start {link.group(1)}")
    place = municipality("naryn_city")["ru"]
    commands = say("ru", "help.volunteer")
    assert welcome.startswith(say("ru", "invite.volunteer", place=place, commands=commands))
    assert (await helper.send("/card"))[0] == say("ru", "card.prompt", name="Үмүт дарагы", count=0)
    await helper.send("* Парк сонун болуптур")
    assert await helper.send("/campaign") == [say("ru", "card.organizers_only")]
    [card] = await stored_wishes(database_url)
    assert (card.kind, card.channel, card.person_id) == ("great", "card", None)
    assert card.entered_by is not None


async def test_a_campaign_that_takes_one_kind_of_card(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    rc, _, err = await civicbot(
        "campaign", "add", "WANT", "--municipality", "naryn_city", "--name", "Мен өзгөрткүм келет",
        "--starts", days(0), "--ends", days(1), "--kinds", "change",
    )  # fmt: skip
    assert rc == 0, err
    runtime = await start_bot("webhook")
    volunteer = await organizer(runtime, telegram, civicbot, 7901)
    change, great = say("ky", "kind.change"), say("ky", "kind.great")
    # The prompt says the one kind it takes, with no sign and no button for the other.
    [prompt] = await volunteer.send("/card")
    name = "Мен өзгөрткүм келет"
    assert prompt == say("ky", "card.prompt_only", name=name, count=0, kind=change)
    assert not volunteer.sent_messages()[-1].get("reply_markup")
    [saved] = await volunteer.send("Жол начар")  # no sign needed: one kind only
    assert saved.startswith(say("ky", "card.saved", count=1, kind=change,
                                category=say("ky", "category.roads"), reference=""))  # fmt: skip
    # A card of the other kind is refused, said so; the button offers only the kind taken.
    [refused] = await volunteer.send("* Парк сонун")
    assert refused.startswith(say("ky", "card.kind_not_taken", kind=great, taken=change))
    assert volunteer.buttons() == [change]
    [kept] = await volunteer.press(change)  # it was one after all: saved
    leisure = say("ky", "category.culture_leisure")
    second = say("ky", "card.saved", count=2, kind=change, category=leisure, reference="")
    assert kept.startswith(second)
    # Refused again, and the next card typed instead: the refused one is said to be dropped.
    await volunteer.send("* Мектеп жакшы")
    [next_card] = await volunteer.send("Суу жок")
    dropped = say("ky", "card.dropped", text="Мектеп жакшы")
    water = say("ky", "category.drinking_water")
    third = say("ky", "card.saved", count=3, kind=change, category=water, reference="")
    assert next_card.startswith(dropped + "\n\n" + third)
    # A press of the kind it does not take (as an older prompt offered) saves nothing.
    [topic] = volunteer.newest_keyboard()["reply_markup"]["inline_keyboard"][0]
    nonce = topic["callback_data"].split(":", 1)[0]  # this prompt's, so not stale by age
    [refused] = await volunteer.press_data(f"{nonce}:great")
    assert refused.startswith(say("ky", "error.stale_button"))
    assert [(w.kind, w.text) for w in await stored_wishes(database_url)] == [
        ("change", "Жол начар"),
        ("change", "Парк сонун"),
        ("change", "Суу жок"),
    ]


async def test_an_organizer_cannot_act_on_another_municipalitys_campaign(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say
) -> None:
    rc, _, err = await civicbot(
        "campaign", "add", "OSHST", "--municipality", "osh", "--name", "Ош жаштары",
        "--starts", days(0), "--ends", days(1),
    )  # fmt: skip
    assert rc == 0, err
    runtime = await start_bot("webhook")
    naryn = await organizer(runtime, telegram, civicbot, 7801)  # organizes Naryn only
    assert await naryn.send("/card OSHST") == [say("ky", "card.no_campaign")]
    [tally] = await naryn.send("/campaign")
    assert "OSHST" not in tally and tally.startswith(say("ky", "campaign.none"))
