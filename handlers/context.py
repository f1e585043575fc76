"""The state a handler works with: the session, the person, and where they are in a flow."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.pseudonyms import Pseudonyms
from handlers.sealing import Sealer, sealer_for
from handlers.types import Inbound, Picture
from storage import queries
from storage.domain import LANGUAGES
from storage.models import Municipality, Person, utcnow
from storage.queries.conversations import ConversationState

DEFAULT_LANGUAGE = "ky"


# What residents write for a language: codes, names, the start of a name.
LANGUAGE_ALIASES = {
    "ky": ("ky", "kg", "kir", "kyr", "kyrgyz", "кы", "кыр", "кырг", "кыргыз", "кыргызча"),
    "ru": ("ru", "rus", "russian", "ру", "рус", "русский", "орус", "орусча"),
    "en": ("en", "eng", "english", "анг", "англ", "английский", "англисче"),
}


def guess_language(hint: str | None) -> str:
    """Kyrgyz unless the client says Russian or English."""
    code = (hint or "").lower().split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def parse_language(text: str) -> str | None:
    word = text.strip().lower().rstrip(".")
    for language, aliases in LANGUAGE_ALIASES.items():
        if word in aliases:
            return language
    return None


@dataclass
class Context:
    session: AsyncSession
    inbound: Inbound
    person: Person
    conversation: ConversationState  # written once the action is done (dispatch)
    pseudonyms: Pseudonyms
    language_changed: bool = False
    refresh_menu: bool = False  # the person's command menu is to be set again (roles, /help)
    button_accepted: bool = False
    keep_buttons: bool = False  # the pressed keyboard stays: its buttons may be pressed again
    forgotten: bool = False
    private: bool = False  # see Outcome.private
    refusal: str | None = None  # see Outcome.refusal
    quiet: bool = False  # a flooder over the limit: nothing is sent back
    # Pictures this action keeps: their files are written before the commit (dispatch).
    kept_pictures: list[Picture] = field(default_factory=list)
    # Files no row holds any more (/forget): deleted once this action commits.
    discarded_files: list[str] = field(default_factory=list)
    # What is read once per action and asked for more than once (a staff member's places).
    cache: dict[str, object] = field(default_factory=dict)

    def keep(self, picture: Picture) -> None:
        if picture not in self.kept_pictures:
            self.kept_pictures.append(picture)

    @cached_property
    def today(self) -> date:
        """The municipality's date when the action began: one date for the whole action, so
        that what it checks and what it stores agree across midnight."""
        return datetime.now(ZoneInfo(self.inbound.timezone)).date()

    @cached_property
    def sealer(self) -> Sealer:
        return sealer_for(self.pseudonyms)

    @property
    def guided(self) -> bool:
        return self.inbound.guided

    @property
    def language(self) -> str:
        return self.person.language

    async def settle(self, municipality: Municipality) -> None:
        """The resident lives here now; wishes they sent before naming a place go here too."""
        await queries.change_person(self.session, self.person, municipality=municipality)
        await queries.attach_unplaced_wishes(self.session, self.person, municipality)

    async def set_language(self, language: str) -> None:
        self.language_changed = self.language_changed or language != self.person.language
        await queries.change_person(
            self.session, self.person, language=language, language_confirmed=True
        )

    # --- the conversation's step -----------------------------------------------------

    @property
    def step(self) -> str | None:
        return self.conversation.step

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.conversation.data or {})

    def enter(self, step: str, **data: Any) -> None:
        """Move to a step, keeping the flow's data and adding to it. A fresh nonce makes
        the buttons of every earlier prompt stale."""
        self.conversation.step = step
        self.conversation.data = {**self.data, **data}
        self.conversation.nonce = secrets.token_urlsafe(4)[:6]

    def start_flow(self, **data: Any) -> None:
        """Start a new flow, dropping whatever flow was under way; its first step follows."""
        self.conversation.step = None
        self.conversation.data = dict(data)

    def start_draft(self, lifetime: timedelta, **data: Any) -> None:
        """Start a flow whose draft lapses after `lifetime`: a reply that comes later is not
        an answer to the question asked then (`draft_expired`)."""
        self.start_flow(**data, expires=(utcnow() + lifetime).isoformat())

    @property
    def draft_expired(self) -> bool:
        """The draft was left longer than its lifetime (or holds no expiry)."""
        expires = self.data.get("expires")
        return expires is None or datetime.fromisoformat(str(expires)) < utcnow()

    def remember(self, **data: Any) -> None:
        self.conversation.data = {**self.data, **data}

    def finish(self) -> None:
        self.conversation.step = None
        self.conversation.data = {}
        self.conversation.nonce = ""

    def payload(self, value: str) -> str:
        """Button payload for the current step: nonce and value (≤ 64 bytes for Telegram)."""
        return f"{self.conversation.nonce}:{value}"

    def choice(self, payload: str) -> str | None:
        """The value of a pressed button if it belongs to the current prompt, else None."""
        nonce, _, value = payload.partition(":")
        if not self.step or not value or nonce != self.conversation.nonce:
            return None
        return value
