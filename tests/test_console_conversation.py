"""/web and SMS `ВЕБ` / `WEB` at the conversation level (tests/conversation.py): staff and
deputies get a one-time link to the console, of which only a keyed hash is stored; anyone
else a short refusal; without PUBLIC_BASE_URL, the reason. The link is never kept for a
redelivery."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from handlers import console_links, dispatch, roles
from handlers.types import Inbound
from storage.models import ConsoleLink, utcnow
from tests.conftest import Civicbot, Say
from tests.conversation import Conversation, World, fresh_number, fresh_user
from tests.digests import invite_code
from tests.test_inbox_conversation import fresh_place

BASE = "https://civic.example.test"
LINK = re.compile(re.escape(BASE) + r"/staff/login/([A-Za-z0-9_-]{24})")


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands run on it."""
    return conversation_database_url


class Served(Conversation):
    """A sender of a deployment with PUBLIC_BASE_URL set (the channels pass it on)."""

    base: str | None = BASE

    def _sender(self) -> Inbound:
        return replace(super()._sender(), public_base_url=self.base)

    def _sms_inbound(self, body: str) -> Inbound:
        return replace(super()._sms_inbound(body), public_base_url=self.base)


async def joined(
    world: World, civicbot: Civicbot, channel: str, role: str, language: str = "en"
) -> Served:
    place = await fresh_place(civicbot)
    user = fresh_number() if channel == "sms" else str(fresh_user())
    person = Served(world, channel, user, language)
    code = await invite_code(civicbot, role, place)
    joining = {"ky": "КОШУЛ", "ru": "ВСТУПИТЬ", "en": "JOIN"}[language]  # JOIN keeps Kyrgyz
    await person.send(f"/start inv-{code}" if channel != "sms" else f"{joining} {code}")
    return person


async def links(world: World) -> list[ConsoleLink]:
    async with world.db.session() as session:
        return list((await session.scalars(select(ConsoleLink))).all())


async def test_staff_get_a_one_time_link_of_which_only_a_keyed_hash_is_kept(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    staff = await joined(world, civicbot, "telegram", "staff")
    before = {link.token_key for link in await links(world)}
    [answer] = await staff.send("/web")
    match = LINK.search(answer)
    assert match is not None, answer
    token = match.group(1)
    assert answer == say("en", "console.link", link=match.group(0))
    [link] = [link for link in await links(world) if link.token_key not in before]
    assert link.token_key == world.pseudonyms.of(console_links.PURPOSE, token)
    assert token not in link.token_key and link.used_at is None
    minutes = (link.expires_at - utcnow()).total_seconds() / 60
    assert 9.9 < minutes <= 10
    # The link is never kept with the delivery: a redelivery is not given it again.
    assert staff.outcome is not None and staff.outcome.private
    assert staff._last is not None and staff._last.delivery_id is not None
    kept = await dispatch.previous_reply(
        world.db, world.pseudonyms, "telegram", staff._last.delivery_id
    )
    assert not kept
    # Each /web is a new link.
    [again] = await staff.send("/web")
    second = LINK.search(again)
    assert second is not None and second.group(1) != token


async def test_deputies_get_one_too_and_residents_a_short_refusal(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    deputy = await joined(world, civicbot, "telegram", "deputy", language="ru")
    [answer] = await deputy.send("/web")
    assert LINK.search(answer) is not None
    before = len(await links(world))
    resident = Served(world, "telegram", str(fresh_user()), "ky")
    await resident.send("/start")
    assert await resident.send("/web") == [say("ky", "console.officials_only")]
    assert len(await links(world)) == before
    assert "web" in roles.menu(("staff",)) and "web" in roles.menu(("deputy",))
    assert "web" not in roles.menu(())


@pytest.mark.parametrize(
    "keyword,language", [("ВЕБ", "ru"), ("веб", "ru"), ("VEB", "ru"), ("WEB", "en")]
)
async def test_sms_veb_or_web_sends_the_link_in_an_sms(
    world: World, civicbot: Civicbot, say: Say, keyword: str, language: str
) -> None:
    staff = await joined(world, civicbot, "sms", "staff", language=language)
    [answer] = await staff.send(keyword)
    match = LINK.search(answer)
    assert match is not None, answer
    assert answer == say(language, "sms.console.link", link=match.group(0))


async def test_without_a_public_address_the_bot_says_the_console_needs_one(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    staff = await joined(world, civicbot, "telegram", "staff")
    staff.base = None
    before = len(await links(world))
    assert await staff.send("/web") == [say("en", "console.no_address")]
    assert len(await links(world)) == before
    sms = await joined(world, civicbot, "sms", "staff")
    sms.base = None
    assert await sms.send("WEB") == [say("en", "sms.console.no_address")]
