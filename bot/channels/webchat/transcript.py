"""The conversation of a web chat visit, carried in the page itself (a hidden field of its
form), so that each answer shows what was said before it in this visit: nothing of it is
kept on the server, where it would tie what a visitor wrote to them.

It goes out sealed: compressed (a Cyrillic text's UTF-8, percent-encoded in a form, would
be six times its length) and with an HMAC bound to the visitor, so that the server reads
back only what it wrote for that visitor, and never decompresses anything else. What does
not unseal is an empty conversation, not an error: the visitor loses the earlier lines,
nothing more. The most recent lines are kept, within MAX_ENTRIES and MAX_CHARACTERS."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import zlib
from collections.abc import Sequence

from bot.web import http_input

YOU, BOT = "you", "bot"
Entry = tuple[str, str]  # (YOU or BOT, the text)
MAX_ENTRIES = 60
MAX_CHARACTERS = 12_000  # of text: about a dozen exchanges of a phone's screen each
MAX_SEALED = 64 * 1024  # characters of a sealed transcript a form may carry
MAX_JSON = 4 * MAX_CHARACTERS + 16 * MAX_ENTRIES  # bytes it may unpack to (UTF-8, JSON)


class Transcripts:
    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = tuple(keys)  # the first seals; all of them open (a key being rotated)

    def seal(self, visitor: str, entries: Sequence[Entry]) -> str:
        if not entries:
            return ""
        packed = json.dumps([list(e) for e in recent(entries)], ensure_ascii=False)
        body = base64.urlsafe_b64encode(zlib.compress(packed.encode("utf-8"), 9)).decode()
        return f"{body}.{_mac(self._keys[0], visitor, body)}"

    def open(self, visitor: str, sealed: str) -> list[Entry]:
        """What `seal` wrote for this visitor; [] for anything else."""
        body, _, signature = sealed.partition(".")
        if not body or len(sealed) > MAX_SEALED:
            return []
        if not any(http_input.same_secret(signature, _mac(k, visitor, body)) for k in self._keys):
            return []
        try:
            unpacker = zlib.decompressobj()
            packed = unpacker.decompress(base64.urlsafe_b64decode(body), MAX_JSON)
            entries = json.loads(packed.decode("utf-8")) if not unpacker.unconsumed_tail else []
        except (binascii.Error, zlib.error, ValueError):
            return []
        if not isinstance(entries, list):
            return []
        return [
            (entry[0], entry[1])
            for entry in entries
            if isinstance(entry, list)
            and len(entry) == 2
            and entry[0] in (YOU, BOT)
            and isinstance(entry[1], str)
        ]


def recent(entries: Sequence[Entry]) -> list[Entry]:
    """The last entries that fit the bounds (the conversation's end is what matters)."""
    kept: list[Entry] = []
    characters = 0
    for entry in reversed(entries[-MAX_ENTRIES:]):
        characters += len(entry[1])
        if characters > MAX_CHARACTERS:
            break
        kept.append(entry)
    return kept[::-1]


def _mac(key: bytes, visitor: str, body: str) -> str:
    return hmac.new(key, f"{visitor}.{body}".encode(), "sha256").hexdigest()
