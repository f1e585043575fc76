"""Keyed hashes (HMAC-SHA256 with the deployment's SECRET_KEY) for values we must recognise
again but must not keep: delivery ids, and who sent how many reports today. Without the key
nobody can compute them from a known Telegram id or phone number."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonyms:
    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode()

    def of(self, purpose: str, *parts: str) -> str:
        message = "\x1f".join((purpose, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
