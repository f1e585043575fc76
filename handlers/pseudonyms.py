"""Keyed hashes (HMAC-SHA256 with the deployment's SECRET_KEY) for values we must recognise
again but must not keep: delivery ids, who sent how many reports today, signers' PINs.
Without the key nobody can compute them from a known Telegram id, phone number or PIN.

The same key also yields, through HKDF, one key per other purpose (sealing signers' data)."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Pseudonyms:
    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode()

    def of(self, purpose: str, *parts: str) -> str:
        message = "\x1f".join((purpose, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A key for `purpose` alone; knowing it tells nothing of SECRET_KEY or other keys."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode())
        return hkdf.derive(self._key)
