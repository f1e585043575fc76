"""Youth street campaigns, as far as they are built: the operator's campaign commands, the
poster (its QR code read back), and wishes attributed through the link (/start c-CODE) and
the SMS tag (#CODE)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from storage.db import Database
from storage.models import Person, Wish
from tests.conftest import Civicbot, Say, StartBot, resident_of
from tests.fake_telegram import FakeTelegram
from tests.initiatives import today
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

    from bot import poster
    from storage.models import Campaign

    lines = [text for text, _, _ in poster.make(
        Campaign(code="TREE", name="Үмүт дарагы", starts_on=today(), ends_on=today()),
        "civic_test_bot",
        "+996 700 000 000",
    ).lines]  # fmt: skip
    assert "Мен өзгөрткүм келет!   Бул – мыкты!" in lines
    assert "Я хочу изменить!   Это – здорово!" in lines
    assert "ӨЗГӨРТ #TREE <текст>   МЫКТЫ #TREE <текст>" in lines
    assert "SMS +996 700 000 000:" in lines and "Үмүт дарагы" in lines

    rc, _, err = await civicbot("campaign", "poster", "TREE", "--output", str(png))
    assert rc == 2 and "--bot" in err  # no token to ask Telegram with, and no --bot


async def test_the_link_brings_the_place_and_the_wishes_carry_the_campaign(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    await campaign(civicbot, "TREE")
    await campaign(civicbot, "PAST", starts=-1, ends=0)
    await civicbot("campaign", "close", "PAST")
    runtime = await start_bot("webhook")
    resident = resident_of(runtime, telegram, "webhook", 7301, "ky")
    replies = await resident.send("/start c-TREE")
    assert say("ky", "campaign.welcome", name="Үмүт дарагы") in replies[0]
    # No place question after the language: the campaign's municipality is theirs.
    assert say("ky", "start.ready") in (await resident.press("Кыргызча"))[-1]
    await resident.leave_wish("change", "Таштанды", "Базардын жанында таштанды көп")

    late = resident_of(runtime, telegram, "webhook", 7302, "ru")
    replies = await late.send("/start c-PAST")
    assert say("ru", "campaign.ended", name="Үмүт дарагы") in replies[0]
    await late.press("Русский")
    await late.leave_wish("great", "Школы", "Новая школа очень хорошая")

    stranger = resident_of(runtime, telegram, "webhook", 7303, "en")
    replies = await stranger.send("/start c-NOSUCH")
    assert say("en", "campaign.unknown") in replies[0]

    first, second = await stored_wishes(database_url)
    assert first.campaign_id is not None and second.campaign_id is None
    # Both placed by the campaign's link, the ended one too.
    assert first.municipality is not None and second.municipality is not None
    assert first.municipality.key == second.municipality.key == "naryn_city"


@pytest.mark.parametrize("sender", ["+996555800100", "whatsapp:+996555800101"])
async def test_an_sms_tag_attributes_the_wish(
    start_bot: StartBot, civicbot: Civicbot, database_url: str, sender: str
) -> None:
    await campaign(civicbot, "TREE")
    runtime = await start_bot("webhook", **twilio_settings())
    form = inbound_form(sender, "ӨЗГӨРТ #tree Көчөдө жарык жок")
    status, _ = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 200
    unknown = inbound_form(sender, "ӨЗГӨРТ Жол начар #NOSUCH")
    status, twiml = await post_signed(runtime.base_url, "/sms/twilio", unknown)
    assert status == 200 and "#NOSUCH" in twiml
    tagged, untagged = await stored_wishes(database_url)
    assert (tagged.text, tagged.category) == ("Көчөдө жарык жок", "street_lighting")
    assert tagged.campaign_id is not None and untagged.campaign_id is None
    assert untagged.text == "Жол начар"
    db = Database(database_url)
    try:
        async with db.session() as session:
            person = await session.scalar(select(Person))
            assert person is not None and person.municipality is not None
            assert person.municipality.key == "naryn_city"  # placed by the campaign
    finally:
        await db.close()
