"""What goes into the handlers and what comes out: plain values, no channel in sight.

An adapter (Telegram, SMS) turns what arrived into an `Inbound`, and renders the `Reply`
values it gets back in the resident's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from storage.domain import wish_categories


@dataclass(frozen=True)
class Text:
    """A message from the catalogues: its key and the values for its {placeholders}.

    A value may itself be a Text (a category name, say); it is rendered first.
    """

    key: str
    values: Mapping[str, Any] = field(default_factory=dict)


# A button label is either a catalogue message or a literal (a place name, a language's
# own name), already in the right language.
Label = Text | str


@dataclass(frozen=True)
class Button:
    label: Label
    payload: str


@dataclass(frozen=True)
class DigestOrder:
    """A weekly digest to send after the reply's text (an official's /digest): the channel
    builds it, with its chart, and the week's wishes as a table when `with_table`."""

    municipality_id: int
    period: str  # 2026-W47
    with_table: bool


@dataclass(frozen=True)
class Reply:
    """One message to the resident: its paragraphs and, optionally, rows of buttons."""

    parts: tuple[Text, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    digests: tuple[DigestOrder, ...] = ()
    posters: tuple[str, ...] = ()  # campaign codes whose poster the channel sends after it
    charts: tuple[str, ...] = ()  # campaign codes whose tally chart the channel sends after it
    photos: tuple[str, ...] = ()  # file keys of residents' photos, sent after it (to staff)
    # The answer to a button press: where the channel has one (Telegram's answerCallbackQuery
    # text, a toast shown to the presser, not a chat message and not under the broadcast
    # limit) it goes as that; elsewhere, and if it does not fit, as a message.
    toast: bool = False
    # Not the answer to the action but a message after it (a poll's closing question after
    # the thanks): where a channel acknowledges only once its answer is sent (Telegram's
    # webhook), it goes after that answer, at the broadcast pace, and is not waited for.
    follow_up: bool = False

    def after(self, *parts: Text) -> Reply:
        """The same reply with paragraphs put in front (an error line before a re-prompt)."""
        return replace(self, parts=(*parts, *self.parts))


def noted(replies: list[Reply], *notes: Text | None) -> list[Reply]:
    """`notes` (those given) put in front of the first reply: an error line or what became
    of something, before the prompt that follows; a message of their own if none follows."""
    given = tuple(note for note in notes if note is not None)
    if not given:
        return replies
    if not replies:
        return [Reply(parts=given)]
    return [replies[0].after(*given), *replies[1:]]


def in_rows(buttons: list[Button], width: int = 2) -> tuple[tuple[Button, ...], ...]:
    """Buttons laid out `width` to a row (topic names fit two across a phone)."""
    return tuple(tuple(buttons[i : i + width]) for i in range(0, len(buttons), width))


def topic_buttons(payload: Callable[[str], str]) -> list[Button]:
    """A button for each wish topic, in the catalogue's order; `payload` makes each one's."""
    return [Button(Text(f"category.{key}"), payload(key)) for key in wish_categories()]


def deep_link(bot_username: str | None, payload: str) -> str:
    """Where a /start payload opens the bot: its t.me link once the bot's name is known,
    else the command to type."""
    if bot_username:
        return f"https://t.me/{bot_username}?start={payload}"
    return f"/start {payload}"


def say(key: str, **values: Any) -> Reply:
    return Reply(parts=(Text(key, values),))


@dataclass(frozen=True)
class Picture:
    """A resident's image, already decoded and re-encoded with no metadata (bot/channels/images.py):
    the bytes to keep and their content address."""

    data: bytes = field(repr=False)
    key: str  # sha256 of the bytes, with the file's suffix
    width: int
    height: int


@dataclass(frozen=True)
class Origin:
    """Where several senders may write from at once (a web chat visitor's client address),
    as a keyed hash, and how many wishes an hour it may bring in all (handlers/flood.py)."""

    key: str
    wishes_per_hour: int


@dataclass(frozen=True)
class Inbound:
    """One thing a resident did: a command, a text, a button press, or something we can't
    take (a sticker, a video…). Exactly one of command/text/button/unsupported is set, or
    pictures (perhaps with a text) or a location."""

    channel: str
    user_id: str
    delivery_id: str | None = None  # the channel's id for this delivery, for de-duplication
    command: str | None = None  # without the slash, lower case
    argument: str = ""
    text: str | None = None
    button: str | None = None
    unsupported: str | None = None  # what it was, for the logs: sticker, video, voice…
    # Images that came with it (a caption, if any, is `text`), and why one could not be
    # taken (a catalogue key: too big, not an image, could not be fetched).
    pictures: tuple[Picture, ...] = ()
    picture_problem: str | None = None
    location: tuple[float, float] | None = None  # latitude, longitude as the phone sent them
    language_hint: str | None = None  # Telegram's language_code, an SMS keyword's language
    # A weaker hint: the language of a sender we do not know yet, never changing a known
    # one's (SMS STOP in Latin letters, typed whatever language one writes).
    language_guess: str | None = None
    # Telegram has buttons and can ask step by step; on SMS one message is one action, so
    # whatever is missing is taken as a default or answered with how to write it.
    guided: bool = True
    # Writing to us again ends an opt-out on Telegram (they unblocked the bot); on SMS only
    # START does (STOP is a carrier-level promise).
    clears_opt_out: bool = True
    timezone: str = "Asia/Bishkek"  # the deployment's TIMEZONE: what "today" means
    bot_username: str | None = None  # Telegram's name for the bot, for deep links
    public_base_url: str | None = None  # PUBLIC_BASE_URL: links to our pages (/web's console)
    origin: Origin | None = None  # a source shared by many senders, limited as a whole


def typed(sender: Inbound, text: str) -> Inbound:
    """What someone typed, read as Telegram reads it: "/name rest" is a command, anything
    else a text (the web and terminal chats; `sender` carries who and where)."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        command, _, argument = stripped[1:].partition(" ")
        return replace(sender, command=command.lower(), argument=argument)
    return replace(sender, text=text)


@dataclass
class Outcome:
    language: str
    replies: list[Reply]
    button_accepted: bool = False  # the pressed keyboard has done its job
    # The commands of the person's menu (handlers/roles.py), when it is to be set: their
    # language or roles changed, or they have a role and asked for /help. None: it stays.
    menu: tuple[str, ...] | None = None
    silent: bool = False  # the person has opted out: send them nothing
    # The answer must not be kept with the delivery: it carries an anonymous report's
    # reference, or a signer's name and PIN.
    private: bool = False
    refusal: str | None = None  # why a signature was refused (counted and logged, no more)
    discarded_files: tuple[str, ...] = ()  # photo files to delete after the commit
