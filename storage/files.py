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
PRIVATE = 0o600  # FILE_MODE's default: the files the bot creates are its user's alone


def folder_mode(mode: int) -> int:
    """A folder for files of `mode`: open (searchable) to whoever may read them."""
    return mode | (mode & 0o444) >> 2


def make_folders(folder: Path, mode: int) -> None:
    """`folder` and its missing parents, each for files of `mode` (whatever the umask)."""
    missing = [each for each in (folder, *folder.parents) if not each.exists()]
    for each in reversed(missing):
        each.mkdir(exist_ok=True)
        each.chmod(folder_mode(mode))


def create_empty(path: Path, mode: int) -> None:
    """An empty file of exactly `mode`, unless one is there (an empty SQLite file is a
    database: SQLite then gives its -wal and -shm files the same mode)."""
    make_folders(path.parent, mode)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, mode)  # the umask took bits away
    finally:
        os.close(fd)


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
    """Files in a folder, two levels of subfolders by the key's first characters; each
    file of `mode` (FILE_MODE), each folder open to whoever may read them."""

    def __init__(self, root: Path, mode: int = PRIVATE) -> None:
        self.root = root
        self.mode = mode

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

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():  # the same bytes: content-addressed
            return
        make_folders(path.parent, self.mode)
        # Written whole, then renamed: a crash never leaves half a picture under its name.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
            os.fchmod(temporary.fileno(), self.mode)  # a temporary file is 0600 whatever
            temporary.write(data)
            temporary.flush()
            os.fsync(temporary.fileno())
        os.replace(temporary.name, path)

    def _older_than(self, seconds: float) -> list[str]:
        cutoff = time.time() - seconds
        return [p.name for p in stored_files(self.root) if p.stat().st_mtime < cutoff]


def stored_files(root: Path) -> Iterable[Path]:
    """The files a folder store at `root` holds (xx/yy/KEY), in order; nothing else there."""
    if not root.is_dir():
        return ()
    return sorted(p for p in root.glob("*/*/*") if valid_key(p.name))
