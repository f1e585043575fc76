"""Rotating SECRET_KEY (docs/operations.md): a new key becomes the one everything is made with,
the old one stays readable, and `rekey` moves every stored signature to the new key.

Only signatures keep data under the key for long (their seal and the keyed hashes of PIN and
name, recomputed from the opened seal). Delivery hashes and quota counters live for days and
simply age out, which is why the previous key is kept a few days after re-keying."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bot.runtime.config import Settings
from handlers import signers
from handlers.pseudonyms import Pseudonyms
from handlers.sealing import Sealer
from storage import queries
from storage.db import Database

BATCH = 500  # signatures per transaction


def new_key() -> str:
    return secrets.token_urlsafe(32)


def write_key_file(path: Path, keys: tuple[str, ...]) -> None:
    """Replace the key file as a whole (never half written), readable by its owner only."""
    draft = path.with_name(path.name + ".new")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(draft, path)


def add_key_to_file(settings: Settings) -> tuple[str, ...]:
    """On SQLite without SECRET_KEY: a new key on the key file's first line, the older below."""
    path = settings.secret_file()
    assert path is not None and not settings.secret_key
    keys = (new_key(), *settings.secret_keys())
    write_key_file(path, keys)
    return keys


async def rekey(db: Database, pseudonyms: Pseudonyms) -> int:
    """Seal every signature with the newest key and hash its PIN and name with it; returns how
    many were re-keyed. Safe to run again (and to stop: each batch commits on its own)."""
    sealer = Sealer(pseudonyms)
    after_id, done = 0, 0
    while True:
        async with db.session() as session, session.begin():
            batch = await queries.sealed_signatures_after(session, after_id, BATCH)
            for signature, code in batch:
                assert signature.sealed is not None
                data = sealer.open(signature.sealed)
                signature.sealed = sealer.seal(data)
                if signature.pin_key is not None and "pin" in data:
                    pin, name = data["pin"], data.get("name", "")
                    signature.pin_key = signers.pin_keys(pseudonyms, code, pin)[0]
                    signature.signer_key = signers.signer_keys(pseudonyms, code, pin, name)[0]
                after_id = signature.id
        done += len(batch)
        if len(batch) < BATCH:
            return done
