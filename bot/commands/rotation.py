"""Rotating SECRET_KEY (docs/operations.md): a new key becomes the one everything is made with,
the old one stays readable, and `rekey` moves every stored signature, appeal and poll answer
to the new key.

Signatures and poll answers keep data under the key for long: a signature's seal and the
keyed hashes of PIN and name (recomputed from the opened seal), an answer's voter key (a
keyed hash of poll and person, recomputed for every person). Delivery hashes and quota
counters live for days and simply age out, which is why the previous key is kept a few
days after re-keying."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from bot.runtime.config import Settings
from handlers import appeals, ballots, signers
from handlers.pseudonyms import Pseudonyms
from handlers.sealing import Sealer
from storage import queries
from storage.db import Database
from storage.queries import appeals as appeal_rows
from storage.queries import polls as poll_queries

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
    """Seal every signature with the newest key and hash its PIN and name with it, and move
    poll answers to the newest voter keys; returns how many signatures were re-keyed. Safe
    to run again (and to stop: each batch commits on its own)."""
    await rekey_answers(db, pseudonyms)
    await rekey_appeals(db, pseudonyms)
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


async def rekey_appeals(db: Database, pseudonyms: Pseudonyms) -> int:
    """Seal every appellant's name and address with the newest key (once the old key is
    forgotten, they would not open); how many. Appeals are few: one transaction. Each seal
    is replaced only if it is still the one read: a /forget meanwhile stays done."""
    sealer = appeals.sealer_for(pseudonyms)
    async with db.session() as session:
        sealed = await appeal_rows.sealed_appeals(session)
    resealed = 0
    async with db.session() as session, session.begin():
        for appeal_id, read in sealed:
            new = sealer.seal(sealer.open(read))
            resealed += await appeal_rows.reseal(session, appeal_id, read, new)
    return resealed


async def rekey_answers(db: Database, pseudonyms: Pseudonyms) -> int:
    """Move each person's answer from their voter key under a replaced secret key to the
    newest (once the old key is gone, it would be nobody's: a second answer could be given,
    /forget could not unlink it, the results would not reach them); returns how many moved.
    Every person's keys are computed for every poll answered (nothing stored joins the two),
    one poll per transaction. A worker meanwhile finds either key (handlers/polls.py)."""
    if not pseudonyms.rotating:
        return 0
    async with db.session() as session:
        people = await poll_queries.person_ids(session)
        polls = await poll_queries.poll_ids(session)
    moved = 0
    for poll_id in polls:
        async with db.session() as session, session.begin():
            answered = await queries.voter_keys(session, poll_id)
            moves = _moves(pseudonyms, poll_id, people, answered)
            await poll_queries.move_answers(session, poll_id, moves)
        moved += len(moves)
    return moved


def _moves(
    pseudonyms: Pseudonyms, poll_id: int, people: Sequence[int], answered: set[str]
) -> dict[str, str]:
    """Replaced voter key → newest, for the poll's answers under a replaced key."""
    moves: dict[str, str] = {}
    if not answered:
        return moves
    for person_id in people:
        newest, *replaced = ballots.voter_keys(pseudonyms, poll_id, person_id)
        moves.update((key, newest) for key in replaced if key in answered)
    return moves
