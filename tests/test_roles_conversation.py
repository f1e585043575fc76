"""Each role at the conversation level (tests/conversation.py): what its welcome, its /help
and the end of its set-up say, that every command they name works for it, and the command
menu the channel is asked to set; the organizer's volunteer invites, card mode's /cancel,
and counts in Russian. The menu on Telegram's wire: tests/test_officials.py; the cards'
kinds and the poster: tests/test_campaigns.py."""

from __future__ import annotations

import itertools
import re

import pytest

from handlers import roles
from tests.conftest import Civicbot, Say
from tests.conversation import Conversation, World
from tests.digests import invite_code
from tests.places import municipality
from tests.test_campaigns import campaign

LANGUAGE_BUTTONS = {"ky": "Кыргызча", "ru": "Русский", "en": "English"}
# What a command says to someone whose role may not use it.
REFUSALS = (
    "answer.staff_only",
    "card.organizers_only",
    "digest.officials_only",
    "inbox.officials_only",
    "initiative.not_initiator",
)
_codes = itertools.count(1)


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands run on it."""
    return conversation_database_url


async def joined(
    world: World, civicbot: Civicbot, role: str, language: str, place: str = "naryn_city"
) -> tuple[Conversation, str, list[str]]:
    """Someone new who follows an invite's link and chooses their language: the welcome,
    and what ends the set-up."""
    person = world.conversation("telegram", language)
    code = await invite_code(civicbot, role, place)
    [welcome] = await person.send(f"/start inv-{code}")
    # The channel is asked to set the chat's menu to the role's commands.
    assert person.outcome is not None and person.outcome.menu == roles.menu((role,))
    finished = await person.press(LANGUAGE_BUTTONS[language])
    return person, welcome, finished


@pytest.mark.parametrize(
    "role,language",
    [("deputy", "ru"), ("staff", "ky"), ("organizer", "en"), ("volunteer", "ru")],
)
async def test_each_role_is_told_its_own_commands_and_each_of_them_works(
    world: World, civicbot: Civicbot, say: Say, role: str, language: str
) -> None:
    person, welcome, finished = await joined(world, civicbot, role, language)
    paragraph = say(language, f"help.{role}")
    assert paragraph in welcome
    # Set-up ends on where the role's commands are, not on a resident's first steps.
    assert finished[-1].endswith("\n\n" + say(language, "start.ready_role"))
    # /help: the role's paragraph first, then a resident's help; the menu is set again.
    [helped] = await person.send("/help")
    assert helped == "\n\n".join((paragraph, say(language, "help.text")))
    assert person.outcome is not None and person.outcome.menu == roles.menu((role,))
    # Every command the welcome and the help name for the role works for it.
    named = set(re.findall(r"/(\w+)", paragraph)) | set(re.findall(r"/(\w+)", welcome))
    assert named >= set(roles.ROLE_COMMANDS[role])
    refusals = {say(language, key) for key in REFUSALS}
    for command in sorted(named):
        replies = await person.send(f"/{command}")
        assert not refusals & set(replies), (command, replies)
        await person.send("/cancel")


async def test_a_deputy_is_not_promised_answering(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    """A deputy reads the inbox; answering is staff's: the welcome says so, and /answer is
    indeed refused."""
    deputy, welcome, _ = await joined(world, civicbot, "deputy", "ru")
    assert say("ru", "help.deputy") in welcome and say("ru", "help.staff") not in welcome
    assert "/answer" not in welcome
    assert await deputy.send("/answer 1234567 done Сделано") == [say("ru", "answer.staff_only")]


async def test_someone_with_two_roles_sees_both_and_a_resident_sees_none(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    person, _, _ = await joined(world, civicbot, "deputy", "en")
    for role in ("staff", "volunteer"):  # staff covers a deputy's, a volunteer's stays
        await person.send(f"/start inv-{await invite_code(civicbot, role, 'naryn_city')}")
    [helped] = await person.send("/help")
    paragraphs = helped.split("\n\n")
    assert paragraphs == [
        say("en", "help.staff"),
        say("en", "help.volunteer"),
        say("en", "help.text"),
    ]
    assert person.outcome is not None
    officials = ("inbox", "web", "digest", "poll", "card", "undo")
    assert person.outcome.menu == (*officials, *roles.RESIDENT_MENU)

    resident = world.conversation("telegram", "en")
    await resident.send("/start m-naryn_city")
    assert await resident.press("English") == [
        "\n\n".join((say("en", "language.set", language="English"), say("en", "start.ready")))
    ]
    assert await resident.send("/help") == [say("en", "help.text")]
    assert resident.outcome is not None and resident.outcome.menu is None  # the default


@pytest.mark.parametrize("language", ["ky", "ru", "en"])
async def test_the_organizers_welcome_names_the_campaign_tools(
    world: World, civicbot: Civicbot, say: Say, language: str
) -> None:
    """The campaign tools are in the bot: the welcome says which they are, not "later"."""
    _, welcome, _ = await joined(world, civicbot, "organizer", language)
    place = municipality("naryn_city")[language]
    commands = say(language, "help.organizer")
    assert welcome.startswith(say(language, "invite.organizer", place=place, commands=commands))
    assert all(f"/{name}" in welcome for name in ("campaign", "card", "undo"))
    assert not re.search(r"not in the bot yet|позже|кийинчерээк", welcome)


async def test_the_volunteer_invite_button_works_again_and_stale_buttons_stay_stale(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    organizer, _, _ = await joined(world, civicbot, "organizer", "ky")
    await organizer.send("/campaign")
    menu = dict(pair for row in organizer.keyboard() for pair in row)
    invite = menu[say("ky", "campaign.volunteer_button")]
    links = []
    for _ in range(3):  # the same button of the same /campaign message, pressed again
        [sent] = await organizer.press_data(invite)
        found = re.search(r"/start inv-(\w+)", sent)
        assert found is not None, sent
        links.append(found.group(1))
        assert organizer.outcome is not None and not organizer.outcome.button_accepted
    assert len(set(links)) == 3  # three invites, one volunteer each
    # Each works once.
    volunteer = world.conversation("telegram", "ru")
    [welcome] = await volunteer.send(f"/start inv-{links[1]}")
    assert welcome.startswith(say("ru", "invite.volunteer", place=municipality("naryn_city")["ru"],
                                  commands=say("ru", "help.volunteer")))  # fmt: skip
    assert say("ru", "invite.used") in (await world.conversation("telegram", "ru").send(
        f"/start inv-{links[1]}"))[0]  # fmt: skip

    # A real stale case: the menu left for a new campaign's name, or cancelled.
    await organizer.press_data(menu[say("ky", "campaign.new_button")])
    [stale] = await organizer.press_data(invite)
    assert stale.startswith(say("ky", "error.stale_button"))
    await organizer.send("/cancel")
    [stale] = await organizer.press_data(invite)
    assert stale.startswith(say("ky", "error.stale_button"))
    # An old /campaign message's button after a new /campaign: stale too.
    await organizer.send("/campaign")
    [stale] = await organizer.press_data(invite)
    assert stale.startswith(say("ky", "error.stale_button"))


async def test_cancel_in_card_mode_says_how_to_go_on(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    code = f"CANCEL{next(_codes)}"
    await campaign(civicbot, code)
    volunteer, _, _ = await joined(world, civicbot, "volunteer", "ru")
    await volunteer.send(f"/card {code}")
    await volunteer.send("+ Жол начар")
    assert await volunteer.send("/cancel") == [say("ru", "card.closed", count=1)]
    assert "введена 1 карточка" in say("ru", "card.closed", count=1)
    assert "/card" in say("ru", "card.closed", count=1)
    # A card still waiting for its kind is said to be dropped, not lost in silence.
    await volunteer.send(f"/card {code}")
    await volunteer.send("Суу жок")  # no sign, no kind chosen: it waits
    [closed] = await volunteer.send("/cancel")
    assert closed == "\n\n".join(
        (say("ru", "card.dropped", text="Суу жок"), say("ru", "card.closed", count=0))
    )
    # Anywhere else /cancel says what it said.
    await volunteer.send("/change")
    assert await volunteer.send("/cancel") == [say("ru", "cancel.done")]


async def test_you_said_we_did_counts_its_residents_in_russian(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    """Not "Это получат 1 жителей": the preview and the announcement count one resident in
    the singular."""
    resident = world.conversation("telegram", "ru")
    await resident.send("/start m-karakol")
    await resident.press("Русский")
    await resident.send("/change")
    await resident.press(say("ru", "category.street_lighting"))
    await resident.send("На улице Ленина не горят фонари")

    staff, _, _ = await joined(world, civicbot, "staff", "ru", place="karakol")
    await staff.send("/inbox")
    await staff.press(say("ru", "announce.button"))
    await staff.press(say("ru", "category.street_lighting"))
    await staff.press(say("ru", "announce.weeks", weeks=4))
    [preview] = await staff.send("Фонари заменены")
    assert preview.startswith("Это получит 1 житель («")
    assert "последние 4 нед." in preview
    [sent] = await staff.press(say("ru", "announce.send_button", count=1))
    assert sent == "Отправлено: 1 житель получит его на своём канале."
