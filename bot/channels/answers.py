"""An outcome's Telegram messages, rendered once: what is sent, and what is kept with the
delivery so that an update delivered again after a crash (its answer maybe never sent) is
answered with the very same messages (handlers/dispatch.py keeps it in the same commit).

Kept as JSON: texts, their buttons (label and payload), digests, posters and charts asked
for, and the command menu to set (its language and commands). An answer about an anonymous
report is not kept (`private`)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import orjson

from bot.channels.outbox import split_text
from bot.runtime.i18n import Catalogues
from handlers.types import DigestOrder, Outcome, Reply

Keyboard = tuple[tuple[tuple[str, str], ...], ...]  # rows of (label, payload)
TOAST_LIMIT = 200  # characters of an answerCallbackQuery text


@dataclass(frozen=True)
class Answer:
    language: str
    messages: tuple[tuple[str, Keyboard], ...] = ()
    digests: tuple[DigestOrder, ...] = ()
    menu_language: str | None = None  # set the person's command menu, in this language…
    menu: tuple[str, ...] = ()  # …with these commands (handlers/roles.py; none: a resident's)
    posters: tuple[str, ...] = ()  # campaign codes: the poster follows, as PNG and PDF
    charts: tuple[str, ...] = ()  # campaign codes: the tally's chart follows
    photos: tuple[str, ...] = ()  # file keys: residents' photos follow (staff's inbox)
    toast: str = ""  # the pressed button's answer (Telegram's answerCallbackQuery text)
    follow_ups: int = 0  # the last messages that follow the answer, not waited for

    @property
    def answering(self) -> tuple[tuple[str, Keyboard], ...]:
        """The messages that answer the action; the follow-ups come after them."""
        return self.messages[: len(self.messages) - self.follow_ups]

    @property
    def following(self) -> tuple[tuple[str, Keyboard], ...]:
        return self.messages[len(self.messages) - self.follow_ups :]

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "s": self.language,
                "m": [
                    [text, [[list(b) for b in row] for row in rows]] for text, rows in self.messages
                ],
                "d": [[d.municipality_id, d.period, d.with_table] for d in self.digests],
                "l": self.menu_language,
                **({"n": list(self.menu)} if self.menu else {}),
                "p": list(self.posters),
                "c": list(self.charts),
                "f": list(self.photos),
                **({"t": self.toast} if self.toast else {}),
                **({"u": self.follow_ups} if self.follow_ups else {}),
            },
        ).decode()

    @classmethod
    def from_json(cls, kept: str) -> Answer:
        data = orjson.loads(kept)
        return cls(
            language=data["s"],
            messages=tuple(
                (text, tuple(tuple((label, payload) for label, payload in row) for row in rows))
                for text, rows in data["m"]
            ),
            digests=tuple(DigestOrder(int(m), str(p), bool(t)) for m, p, t in data["d"]),
            menu_language=data["l"],
            menu=tuple(str(name) for name in data.get("n", ())),
            posters=tuple(str(code) for code in data.get("p", ())),
            charts=tuple(str(code) for code in data.get("c", ())),
            photos=tuple(str(key) for key in data.get("f", ())),
            toast=str(data.get("t", "")),
            follow_ups=int(data.get("u", 0)),
        )


def render(catalogues: Catalogues, outcome: Outcome, pressed: bool = False) -> Answer:
    """The messages an outcome's replies make, in its language (texts split under Telegram's
    limit, the buttons under the last piece). When the action was a button press (`pressed`:
    Telegram's), a reply marked `toast` that fits goes as the press's answer instead. The
    messages of replies marked `follow_up` with none but follow-ups after them are counted
    as `follow_ups` (a channel that shows every message at once shows them all)."""
    messages: list[tuple[str, Keyboard]] = []
    toasts: list[str] = []
    digests: list[DigestOrder] = []
    posters: list[str] = []
    charts: list[str] = []
    photos: list[str] = []
    follow_ups = 0
    for reply in outcome.replies:
        text = catalogues.reply(outcome.language, reply) if reply.parts else ""
        if pressed and _toast_fits(reply, text, toasts):
            toasts.append(text)
            continue
        pieces = split_text(text) if text else []
        keyboard = _keyboard(catalogues, outcome.language, reply)
        messages += [
            (piece, keyboard if number == len(pieces) else ())
            for number, piece in enumerate(pieces, start=1)
        ]
        if pieces:
            follow_ups = follow_ups + len(pieces) if reply.follow_up else 0
        digests += reply.digests
        posters += reply.posters
        charts += reply.charts
        photos += reply.photos
    return Answer(
        outcome.language,
        tuple(messages),
        tuple(digests),
        outcome.language if outcome.menu is not None else None,
        outcome.menu or (),
        tuple(posters),
        tuple(charts),
        tuple(photos),
        "\n".join(toasts),
        follow_ups,
    )


def _toast_fits(reply: Reply, text: str, toasts: list[str]) -> bool:
    """Whether a reply goes as the press's answer: marked so, plain text (a keyboard or an
    attachment needs a message), and within Telegram's 200 characters with any before it."""
    plain = not (reply.buttons or reply.digests or reply.posters or reply.charts or reply.photos)
    room = TOAST_LIMIT - sum(len(t) + 1 for t in toasts)
    return reply.toast and plain and 0 < len(text) <= room


def _keyboard(catalogues: Catalogues, language: str, reply: Reply) -> Keyboard:
    return tuple(
        tuple((catalogues.label(language, button.label), button.payload) for button in row)
        for row in reply.buttons
    )


class RecentKeys:
    """The last `size` keys added (the updates this process answered): a redelivery of one
    of them needs no second answer; after a restart none is known, and the kept one goes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: dict[Hashable, None] = {}

    def add(self, key: Hashable) -> None:
        self._keys[key] = None
        if len(self._keys) > self.size:
            del self._keys[next(iter(self._keys))]  # the oldest: dicts keep insertion order

    def __contains__(self, key: object) -> bool:
        return key in self._keys


def kept(answer: Answer, outcome: Outcome) -> str:
    """What a guided channel keeps with the delivery, to give a redelivery the very same
    answer: nothing for a private step (docs/architecture.md §8) or a silence."""
    return "" if outcome.private or outcome.silent else answer.to_json()
