"""Tests at the conversation level: a resident talking to `handlers.dispatch.handle` on one
channel, with no HTTP, no scheduler and no notifier — what every flow test needs, at a
fraction of a whole runtime's cost (docs/architecture.md, "How the tests are laid out").

A `Conversation` sends what a resident types, presses a button by the label they see,
sends a photo or a location, and reads the answers as the channel renders them: Telegram's
and the web chat's messages and buttons (bot/channels/answers.py), or one SMS in the short
wording, its body read by the SMS channel's own parsing (Twilio's form, or the Android
gateway's event). Courier-style: one database per test module (migrated and seeded once, on
each backend), and a fresh sender per test — so a test reads its own sender's rows.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.channels import answers, pictures
from bot.channels.answers import Answer, Keyboard
from bot.channels.sms import android
from bot.channels.sms.channel import InboundMessage, answer_text, kept_text
from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from bot.runtime.i18n import Catalogues
from handlers import dispatch
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound, Origin, Outcome, typed
from storage import models
from storage.db import Database
from storage.files import FileStore, FolderStore
from tests.conftest import BACKENDS, SECRET_KEY, fresh_postgres_database
from tests.resident import RAW_KEY
from tests.twilio import inbound_form

TIMEZONE = "Asia/Bishkek"
SMS_PROVIDERS = ("twilio", "android")
_numbers = itertools.count(1)
_deliveries = itertools.count(1)


def fresh_number(prefix: str = "+996555") -> str:
    """A phone number no other test of the session writes from (a fresh sender)."""
    return f"{prefix}{next(_numbers):06d}"


def fresh_user() -> int:
    """A Telegram chat id no other test of the session uses."""
    return 7_000_000 + next(_numbers)


class Talking(Protocol):
    """A resident as a test drives one: on the wire (tests/resident.py) or a Conversation."""

    async def send(self, text: str) -> list[str]: ...
    async def press(self, label: str) -> list[str]: ...
    def buttons(self) -> list[str]: ...


class Conversation:
    """One sender on one channel: "telegram" and "web" (buttons), or "sms" (keywords; a
    `user` of whatsapp:+… is Twilio's WhatsApp). Each call returns the texts answered."""

    def __init__(
        self,
        world: World,
        channel: str,
        user: str,
        language: str | None = "ky",
        provider: str = "twilio",
        origin: Origin | None = None,
    ) -> None:
        self.world = world
        self.channel = channel
        self.user = user
        self.language = language
        self.provider = provider  # SMS: whose parsing reads the body
        self.origin = origin  # the web chat's shared client address, when a test needs it
        self.messages: list[tuple[str, Keyboard]] = []  # everything answered, in order
        self.outcome: Outcome | None = None  # the last action's, None for a redelivery
        self._last: Inbound | None = None

    # --- what the resident does -------------------------------------------------------

    async def send(self, text: str) -> list[str]:
        """Type a text (a /command on Telegram and the web chat; a keyword on SMS)."""
        if self.channel == "sms":
            return await self._handle(self._sms_inbound(text))
        return await self._handle(typed(self._sender(), text))

    async def press(self, label: str) -> list[str]:
        """Press the button with this label on the newest message that has buttons."""
        for row in self.keyboard():
            for shown, payload in row:
                if shown == label:
                    return await self.press_data(payload)
        raise AssertionError(f"no button {label!r} in {self.buttons()}")

    async def press_data(self, payload: str) -> list[str]:
        return await self._handle(replace(self._sender(), button=payload))

    async def send_location(self, latitude: float, longitude: float) -> list[str]:
        return await self._handle(replace(self._sender(), location=(latitude, longitude)))

    async def send_unsupported(self, kind: str) -> list[str]:
        """A sticker, a voice note…: something the bot cannot take."""
        return await self._handle(replace(self._sender(), unsupported=kind))

    async def send_photo(self, content: bytes, caption: str | None = None) -> list[str]:
        """An image, fetched (here: given) and cleaned as a channel does, unless a look at
        the sender says it would not be taken (bot/channels/pictures.py)."""
        sender = self._sender()

        async def fetch() -> bytes:
            return content

        taken, problem = await pictures.fetch_if_taken(
            self.world.db, self.world.pseudonyms, sender, [fetch]
        )
        return await self._handle(
            replace(sender, pictures=taken, picture_problem=problem, text=caption)
        )

    async def redeliver(self) -> list[str]:
        """The channel delivers the last action again (its answer was not seen in time)."""
        assert self._last is not None, "nothing sent yet"
        return await self._handle(self._last)

    # --- what the resident sees ---------------------------------------------------------

    def texts(self) -> list[str]:
        return [text for text, _ in self.messages]

    def keyboard(self) -> Keyboard:
        for _, keyboard in reversed(self.messages):
            if keyboard:
                return keyboard
        raise AssertionError("the bot sent no buttons")

    def buttons(self) -> list[str]:
        return [label for row in self.keyboard() for label, _ in row]

    async def state(self) -> models.Conversation | None:
        """Where this sender is in a guided flow (their conversation row), if anywhere."""
        # As the channel names the sender: an SMS body's address is read (+996…, WhatsApp).
        sender = self._last or self._sender()
        async with self.world.db.session() as session:
            query = (
                select(models.Conversation)
                .join(models.Person, models.Person.id == models.Conversation.person_id)
                .where(models.Person.channel == sender.channel)
                .where(models.Person.channel_user_id == sender.user_id)
            )
            return await session.scalar(query)

    # --- one action through the handlers ----------------------------------------------

    def _sender(self) -> Inbound:
        return Inbound(
            channel=self.channel,
            user_id=self.user,
            delivery_id=f"D{next(_deliveries)}",
            language_hint=self.language,
            timezone=TIMEZONE,
            origin=self.origin,
        )

    def _sms_inbound(self, body: str) -> Inbound:
        """The body read as the SMS channel reads it from the provider's request."""
        if self.provider == "android":
            payload = {"messageId": uuid.uuid4().hex, "phoneNumber": self.user, "message": body}
            message = android.received_message(android.Event("sms:received", "", payload))
        else:
            message = InboundMessage.from_form(inbound_form(self.user, body))
        return message.inbound(TIMEZONE)

    async def _handle(self, inbound: Inbound) -> list[str]:
        self._last = inbound
        world = self.world
        self.outcome = await dispatch.handle(
            world.db, world.pseudonyms, inbound, render=self._kept, files=world.files
        )
        said = await self._said(inbound)
        for text, _ in said:
            assert not RAW_KEY.match(text), f"untranslated message key: {text}"
            assert "Traceback" not in text
        self.messages += said
        return [text for text, _ in said]

    def _kept(self, outcome: Outcome) -> str:
        """What the channel keeps with the delivery for a redelivery."""
        if self.channel == "sms":
            return kept_text(self.world.catalogues, outcome)
        return answers.kept(answers.render(self.world.catalogues, outcome), outcome)

    async def _said(self, inbound: Inbound) -> list[tuple[str, Keyboard]]:
        """The messages the channel sends for the last action: for a redelivery, the kept
        answer where the channel gives it again (Twilio's TwiML, Telegram after a crash),
        nothing where it does not (the Android gateway: its answer went the first time)."""
        catalogues, outcome = self.world.catalogues, self.outcome
        if outcome is None:
            if self.channel == "sms" and self.provider == "android":
                return []
            assert inbound.delivery_id is not None
            kept = await dispatch.previous_reply(
                self.world.db, self.world.pseudonyms, inbound.channel, inbound.delivery_id
            )
            if not kept:
                return []
            if self.channel == "sms":
                return [(kept, ())]
            return list(Answer.from_json(kept).messages)
        if self.channel == "sms":
            text = answer_text(catalogues, outcome)
            return [(text, ())] if text else []
        if outcome.silent:
            return []
        return list(answers.render(catalogues, outcome).messages)


class World:
    """What a conversation runs against: the module's database, the keys, the catalogues
    and a folder for photos."""

    def __init__(self, database_url: str, catalogues: Catalogues, media: Path) -> None:
        self.database_url = database_url
        self.db = Database(database_url)
        self.pseudonyms = Pseudonyms.from_keys([SECRET_KEY])
        self.catalogues = catalogues
        self.files: FileStore = FolderStore(media)

    def conversation(
        self, channel: str = "telegram", language: str | None = "ky", **options: Any
    ) -> Conversation:
        """A fresh sender on the channel (its own chat id, phone number or visitor)."""
        user = options.pop("user", None)
        if user is None:
            user = fresh_number() if channel == "sms" else str(fresh_user())
        return Conversation(self, channel, user, language, **options)

    async def ids(self, model: Any) -> set[Any]:
        """The ids of a table's rows now (a bribe report's is random: it tells no order)."""
        async with self.db.session() as session:
            return set((await session.scalars(select(model.id))).all())

    async def rows_since(self, model: Any, known: set[Any]) -> list[Any]:
        """The rows written since `known` was read (a module's tests run one after another)."""
        async with self.db.session() as session:
            every = (await session.scalars(select(model).order_by(model.id))).all()
        return [row for row in every if row.id not in known]

    async def close(self) -> None:
        await self.db.close()
        await self.files.close()


# --- fixtures (registered by tests/conftest.py's pytest_plugins) ---------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def conversation_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One database per test module and backend, migrated and seeded once."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("conversation")
        url = f"sqlite+aiosqlite:///{folder / 'civicbot.db'}"
        await (await prepare_database(Settings(database_url=url))).close()
        yield url
        return
    async with fresh_postgres_database(request.getfixturevalue("postgres_server")) as url:
        await (await prepare_database(Settings(database_url=url))).close()
        yield url


@pytest.fixture(scope="session")
def conversation_catalogues() -> Catalogues:
    return Catalogues()  # read-only: compiled once


@pytest.fixture
async def world(
    conversation_database_url: str, conversation_catalogues: Catalogues, tmp_path: Path
) -> AsyncIterator[World]:
    """The module's database, opened for one test (on the test's own event loop)."""
    opened = World(conversation_database_url, conversation_catalogues, tmp_path / "media")
    yield opened
    await opened.close()
