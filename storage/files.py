"""Where residents' photos live: outside the database, by content address.

A file's name is the SHA-256 of its bytes, so storing the same picture twice (a redelivered
message) writes nothing new, and a file is the same for every wish that shows it. The
default is a folder (MEDIA_DIR, beside the SQLite file); another store (an S3-compatible
bucket for several workers) only has to offer the four calls of `FileStore`.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

KEY = re.compile(r"^[0-9a-f]{64}\.jpg$")


def valid_key(key: str) -> bool:
    """A key we made (never a path someone typed into a URL)."""
    return bool(KEY.match(key))


class FileStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...

    async def older_than(self, seconds: float) -> list[str]:
        """Keys of files stored more than `seconds` ago (for the sweep of orphans)."""
        ...

    async def close(self) -> None: ...


class FolderStore:
    """Files in a folder, two levels of subfolders by the key's first characters."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError("not a file key")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def older_than(self, seconds: float) -> list[str]:
        return await asyncio.to_thread(self._older_than, seconds)

    async def close(self) -> None:
        """Nothing to close: a folder."""

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():  # the same bytes: content-addressed
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a crash never leaves half a picture under its name.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
            temporary.write(data)
            temporary.flush()
            os.fsync(temporary.fileno())
        os.replace(temporary.name, path)

    def _older_than(self, seconds: float) -> list[str]:
        cutoff = time.time() - seconds
        return [
            p.name for p in _files(self.root) if valid_key(p.name) and p.stat().st_mtime < cutoff
        ]


def _files(root: Path) -> Iterable[Path]:
    return root.glob("*/*/*") if root.is_dir() else ()
