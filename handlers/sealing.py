"""Sealing signers' personal data (ARCHITECTURE §8): Fernet (AES-128-CBC with an HMAC) under a
key derived from SECRET_KEY for this one purpose. Only the operator's export opens a seal."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken

from handlers.pseudonyms import Pseudonyms

PURPOSE = "signatures-v1"


class SealBroken(Exception):
    """A seal that does not open under this key: tampered with, or another SECRET_KEY."""


class Sealer:
    def __init__(self, pseudonyms: Pseudonyms, purpose: str = PURPOSE) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(pseudonyms.derive(purpose)))

    def seal(self, data: Mapping[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(dict(data), ensure_ascii=False).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode())))
        except (InvalidToken, ValueError) as error:
            raise SealBroken("a seal does not open with this SECRET_KEY") from error
