"""Keyed hashes (HMAC-SHA256 with the deployment's SECRET_KEY) for values we must recognise
again but must not keep: delivery ids, who sent how many reports today, signers' PINs.
Without the key nobody can compute them from a known Telegram id, phone number or PIN.

The same key also yields, through HKDF, one key per other purpose (sealing signers' data).

During a key rotation the keys SECRET_KEY replaced are still known: new hashes and keys come
from the newest one, and look-ups of what must be recognised for long (a PIN that signed)
try every key until `civicbot secret rotate` has moved the stored data to the newest."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


class Pseudonyms:
    def __init__(self, secret_key: str, previous: Sequence[str] = ()) -> None:
        self._keys = tuple(key.encode() for key in (secret_key, *previous))

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> Pseudonyms:
        """From `Settings.secret_keys()`: the newest key first."""
        return cls(keys[0], keys[1:])

    @property
    def rotating(self) -> bool:
        """Whether keys replaced by the newest are still known."""
        return len(self._keys) > 1

    def of(self, purpose: str, *parts: str) -> str:
        """The hash under the newest key: what is stored from now on."""
        return self._hash(self._keys[0], purpose, parts)

    def every(self, purpose: str, *parts: str) -> tuple[str, ...]:
        """The hash under every known key, newest first: what a look-up matches."""
        return tuple(self._hash(key, purpose, parts) for key in self._keys)

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A key for `purpose` alone; knowing it tells nothing of SECRET_KEY or other keys."""
        return self.derive_every(purpose, length)[0]

    def derive_every(self, purpose: str, length: int = 32) -> tuple[bytes, ...]:
        """`derive` under every known key, newest first."""
        # cryptography (6 MB of a worker's memory) is imported at the first key derived, not
        # with this module: a worker that never seals nor shows the web chat never loads it
        # (docs/operations.md, "Footprint").
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return tuple(
            HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
                key
            )
            for key in self._keys
        )

    @staticmethod
    def _hash(key: bytes, purpose: str, parts: tuple[str, ...]) -> str:
        message = "\x1f".join((purpose, *parts)).encode()
        return hmac.digest(key, message, hashlib.sha256).hex()  # one call into OpenSSL
