"""Youth street campaigns at the conversation level (tests/conversation.py): wishes
attributed through the link (/start c-CODE) and through the SMS tag (#CODE). One database
per module, fresh residents and a campaign of its own per test. The operator's commands,
the poster, the cards and the campaign's end: tests/test_campaigns.py."""

from __future__ import annotations

import itertools

import pytest

from storage.models import Person, Wish
from tests.conftest import Civicbot, ExportWishes, Say
from tests.conversation import World, fresh_number
from tests.test_campaigns import campaign

_codes = itertools.count(1)


def fresh_code(prefix: str) -> str:
    """A campaign code no other test of the module added."""
    return f"{prefix}{next(_codes)}"


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands and the export run on it."""
    return conversation_database_url


async def test_the_link_brings_the_place_and_the_wishes_carry_the_campaign(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    tree, past = fresh_code("TREE"), fresh_code("PAST")
    await campaign(civicbot, tree)
    await campaign(civicbot, past, starts=-1, ends=0)
    await civicbot("campaign", "close", past)
    known = await world.ids(Wish)
    resident = world.conversation("telegram", "ky")
    replies = await resident.send(f"/start c-{tree}")
    assert say("ky", "campaign.welcome", name="Үмүт дарагы") in replies[0]
    # No place question after the language: the campaign's municipality is theirs.
    assert say("ky", "start.ready") in (await resident.press("Кыргызча"))[-1]
    await resident.send("/change")
    await resident.press("Таштанды")
    await resident.send("Базардын жанында таштанды көп")

    late = world.conversation("telegram", "ru")
    replies = await late.send(f"/start c-{past}")
    assert say("ru", "campaign.ended", name="Үмүт дарагы") in replies[0]
    await late.press("Русский")
    await late.send("/great")
    await late.press("Школы")
    await late.send("Новая школа очень хорошая")

    stranger = world.conversation("telegram", "en")
    replies = await stranger.send("/start c-NOSUCH")
    assert say("en", "campaign.unknown") in replies[0]

    first, second = await world.rows_since(Wish, known)
    assert first.campaign_id is not None and second.campaign_id is None
    # Both placed by the campaign's link, the ended one too.
    assert first.municipality is not None and second.municipality is not None
    assert first.municipality.key == second.municipality.key == "naryn_city"


@pytest.mark.parametrize("whatsapp", [False, True], ids=["sms", "whatsapp"])
async def test_an_sms_tag_attributes_the_wish(
    world: World, civicbot: Civicbot, export_wishes: ExportWishes, whatsapp: bool
) -> None:
    code = fresh_code("TREE")
    await campaign(civicbot, code)
    known_wishes, known_people = await world.ids(Wish), await world.ids(Person)
    sender = "whatsapp:" + fresh_number() if whatsapp else fresh_number()
    resident = world.conversation("sms", user=sender)
    assert await resident.send(f"ӨЗГӨРТ #{code.lower()} Көчөдө жарык жок")
    [answer] = await resident.send("ӨЗГӨРТ Жол начар #NOSUCH")
    assert "#NOSUCH" in answer
    tagged, untagged = await world.rows_since(Wish, known_wishes)
    assert (tagged.text, tagged.category) == ("Көчөдө жарык жок", "street_lighting")
    assert tagged.campaign_id is not None and untagged.campaign_id is None
    assert untagged.text == "Жол начар"
    mine = {tagged.reference, untagged.reference}
    exported = [row for row in await export_wishes() if row["reference"] in mine]
    assert [row["campaign"] for row in exported] == [code, ""]
    [person] = await world.rows_since(Person, known_people)
    assert person.municipality is not None
    assert person.municipality.key == "naryn_city"  # placed by the campaign
