"""Sealing signers' personal data (docs/architecture.md §8): Fernet (AES-128-CBC with an
HMAC) under a key derived from SECRET_KEY for this one purpose. Only the operator's export
opens a seal.

Seals are made with the newest key and opened with any key still known (MultiFernet), so a
key rotation never leaves a signature unreadable; `reseal` moves one to the newest key."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson

from handlers.pseudonyms import Pseudonyms

# cryptography is imported when a sealer is made, not with this module (handlers/pseudonyms.py
# says why).
if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

PURPOSE = "signatures-v1"


class SealBroken(Exception):
    """A seal that does not open under any known key: tampered with, or another SECRET_KEY."""


@functools.lru_cache(maxsize=4)
def sealer_for(pseudonyms: Pseudonyms) -> Sealer:
    """The one sealer for these keys (deriving its keys costs more than a seal)."""
    return Sealer(pseudonyms)


class Sealer:
    def __init__(self, pseudonyms: Pseudonyms, purpose: str = PURPOSE) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        self._fernet: MultiFernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(key)) for key in pseudonyms.derive_every(purpose)]
        )

    def seal(self, data: Mapping[str, str]) -> str:
        return self._fernet.encrypt(orjson.dumps(dict(data))).decode()

    def open(self, token: str) -> dict[str, str]:
        from cryptography.fernet import InvalidToken  # loaded already: by __init__

        try:
            return dict(orjson.loads(self._fernet.decrypt(token.encode())))
        except (InvalidToken, ValueError) as error:
            raise SealBroken("a seal does not open with SECRET_KEY or a previous key") from error
