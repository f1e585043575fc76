"""One archive of everything the bot keeps (docs/operations.md, Backups): the database (SQLite
through its online backup API, PostgreSQL through `pg_dump` in one snapshot), the secret key
file, the photos folder, and a manifest; and putting an archive back into an empty place.

What to archive comes in a `Sources` (bot/runtime/backups.py makes one from the settings):
storage knows files and URLs, not settings."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from storage.db import VERSION_TABLE, known_revisions
from storage.files import valid_key

ARCHIVE_NAME = re.compile(r"^civicbot-backup-\d{8}T\d{6}Z\.tar\.gz$")
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"  # pg_dump's custom format, for pg_restore
KEY_MEMBER = "civicbot.secret"
MEDIA_MEMBER = "media"
FORMAT = 1
FINGERPRINT_LABEL = b"civicbot backup: which key sealed this data"
POSTGRES_BINARIES = "/usr/lib/postgresql/*/bin"  # Debian's and Ubuntu's, beside PATH


class BackupError(Exception):
    """An archive cannot be made or put back; the message is the one line the operator reads."""


@dataclass(frozen=True)
class Sources:
    database_url: str
    key_file: Path | None  # SQLite's civicbot.secret, when the keys come from it
    environment_keys: tuple[str, ...]  # SECRET_KEY and SECRET_KEY_PREVIOUS, when set
    include_environment_keys: bool  # the operator asked for them in the archive
    media_folder: Path | None  # None: the photos are in a bucket
    bucket: dict[str, str] | None  # its name and endpoint, for the manifest's note
    version: str  # the program's, for the manifest

    @property
    def sqlite_file(self) -> Path | None:
        database = make_url(self.database_url).database
        if make_url(self.database_url).get_backend_name() != "sqlite":
            return None
        if not database or database == ":memory:":
            raise BackupError("an SQLite database in memory has nothing to back up")
        return Path(database).resolve()

    def keys(self) -> tuple[str, ...]:
        """The keys the data is sealed with, newest first; () if none can be read."""
        if self.environment_keys:
            return self.environment_keys
        if self.key_file is not None and self.key_file.exists():
            lines = self.key_file.read_text().splitlines()
            return tuple(line.strip() for line in lines if line.strip())
        return ()


def fingerprint(key: str) -> str:
    """Names a key without revealing it: restore checks the key it will use is this one."""
    return hmac.new(key.encode(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


# --- making an archive ---------------------------------------------------------------


def archive_name(now: datetime) -> str:
    return f"civicbot-backup-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def create_archive(sources: Sources, folder: Path) -> Path:
    """Write one dated archive into `folder` (made 0700 if new); its path. Runs its own event
    loop for PostgreSQL: call it outside one."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".civicbot-backup-") as work:
        staging = Path(work)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": sources.version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        sqlite_path = sources.sqlite_file
        if sqlite_path is not None:
            manifest |= _copy_sqlite(sqlite_path, staging / SQLITE_MEMBER)
        else:
            manifest |= asyncio.run(_dump_postgres(sources.database_url, staging / PG_MEMBER))
        manifest["secret_key"] = _stage_keys(sources, staging / KEY_MEMBER)
        manifest["photos"] = _photos_note(sources)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return _write_tar(staging, sources.media_folder, folder)


def _copy_sqlite(source: Path, target: Path) -> dict[str, Any]:
    """A consistent copy while the bot writes: the online backup API, in one step, reads one
    snapshot (the WAL's committed frames included); writers go on meanwhile."""
    if not source.exists():
        raise BackupError(f"no database at {source}")
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        reading.backup(copy)
    finally:
        reading.close()
    try:
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        tables = [
            row[0]
            for row in copy.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {t: copy.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        revision = _sqlite_revision(copy)
    finally:
        copy.close()
    os.chmod(target, 0o600)
    return {"database": "sqlite", "alembic_revision": revision, "tables": counts}


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    found = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
    ).fetchone()
    if not found:
        return None
    rows = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None


async def _dump_postgres(database_url: str, target: Path) -> dict[str, Any]:
    """pg_dump in the snapshot of a transaction of ours, which counts the rows: the manifest's
    figures are those of the dump, whatever is written meanwhile."""
    import asyncpg

    url = make_url(database_url)
    connection = await asyncpg.connect(_dsn(url))
    try:
        server_major = int(await connection.fetchval("SHOW server_version_num")) // 10000
        pg_dump = postgres_tool("pg_dump", server_major)
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
            tables = [
                row[0]
                for row in await connection.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
                )
            ]
            counts = {t: await connection.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
            revision = None
            if VERSION_TABLE in tables:
                found = await connection.fetch(f"SELECT version_num FROM {VERSION_TABLE}")
                revision = found[0][0] if len(found) == 1 else None
            done = await asyncio.create_subprocess_exec(
                str(pg_dump),
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={target}",
                env=_libpq_environment(url),
                stderr=asyncio.subprocess.PIPE,
            )
            _, errors = await done.communicate()
    finally:
        await connection.close()
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {_first_line(errors)}")
    os.chmod(target, 0o600)
    return {"database": "postgresql", "alembic_revision": revision, "tables": counts}


def _stage_keys(sources: Sources, target: Path) -> dict[str, Any]:
    """The keys travel with the data only from the key file, or when the operator asks:
    an environment's key usually lives in a secret store, kept apart from the backups."""
    keys = sources.keys()
    note: dict[str, Any] = {
        "source": "environment" if sources.environment_keys else "file" if keys else "none",
        "fingerprint": fingerprint(keys[0]) if keys else None,
    }
    included = bool(keys) and (not sources.environment_keys or sources.include_environment_keys)
    if included:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            if sources.environment_keys:  # the key file's form: newest first, one a line
                handle.write(("\n".join(keys) + "\n").encode())
            else:
                assert sources.key_file is not None
                handle.write(sources.key_file.read_bytes())  # as it is, byte for byte
    note["included"] = included
    return note


def _photos_note(sources: Sources) -> dict[str, Any]:
    if sources.media_folder is None:
        return {"kind": "s3", **(sources.bucket or {}), "included": False}
    return {"kind": "folder", "files": sum(1 for _ in _photo_files(sources.media_folder))}


def _photo_files(root: Path) -> Iterator[Path]:
    """The photos store's files (storage/files.py: xx/yy/KEY), nothing else in the folder."""
    if root.is_dir():
        yield from sorted(p for p in root.glob("*/*/*") if valid_key(p.name))


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode = 0o700 if info.isdir() else 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar(staging: Path, media: Path | None, folder: Path) -> Path:
    path = _free_name(folder)
    partial = staging / "archive.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for member in (MANIFEST, SQLITE_MEMBER, PG_MEMBER, KEY_MEMBER):
            if (staging / member).exists():
                tar.add(staging / member, arcname=member, filter=_private)
        if media is not None:
            for photo in _photo_files(media):
                name = f"{MEDIA_MEMBER}/{photo.relative_to(media).as_posix()}"
                tar.add(photo, arcname=name, filter=_private)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, path)
    return path


def _free_name(folder: Path) -> Path:
    """This second's name; two archives in one second wait for the next (never overwrite)."""
    for _ in range(5):
        path = folder / archive_name(datetime.now(UTC))
        if not path.exists():
            return path
        time.sleep(1)
    raise BackupError(f"{path} exists already")


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest archives in `folder` (by the date in their name; other
    files are left alone); the deleted."""
    archives = sorted(p for p in folder.iterdir() if ARCHIVE_NAME.match(p.name))
    doomed = archives[: max(len(archives) - keep, 0)]
    for path in doomed:
        path.unlink()
    return doomed


# --- PostgreSQL's tools ---------------------------------------------------------------


def postgres_tool(name: str, server_major: int) -> Path:
    """pg_dump or pg_restore of at least the server's major version: on PATH, or in Debian's
    versioned folders; one line saying what to install otherwise."""
    found: list[tuple[int, Path]] = []
    candidates = [shutil.which(name), *sorted(glob.glob(f"{POSTGRES_BINARIES}/{name}"))]
    for candidate in filter(None, candidates):
        major = _tool_major(Path(candidate))
        if major is not None:
            found.append((major, Path(candidate)))
    good = [each for each in found if each[0] >= server_major]
    if good:
        return min(good)[1]  # the closest to the server's
    package = f"postgresql-client-{server_major}"
    if not found:
        raise BackupError(f"{name} not found: install {package} (or put {name} on PATH)")
    newest = max(found)
    raise BackupError(
        f"{newest[1]} is version {newest[0]}, older than the server's {server_major}: "
        f"install {package}"
    )


def _tool_major(path: Path) -> int | None:
    try:
        said = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", said)
    return int(match.group(1)) if match else None


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _libpq_environment(url: URL) -> dict[str, str]:
    """The connection for pg_dump and pg_restore, in their environment: never in argv, which
    every user of the machine can read."""
    given = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    return {**os.environ, **{name: value for name, value in given.items() if value}}


def _first_line(errors: bytes) -> str:
    lines = errors.decode(errors="replace").strip().splitlines()
    return lines[0] if lines else "no message"


# --- putting an archive back ----------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    manifest: dict[str, Any]
    key_file_written: Path | None


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest: dict[str, Any] = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as error:
        raise BackupError(f"{archive} is not a civicbot backup ({error})") from None
    return manifest


def restore_archive(archive: Path, sources: Sources) -> Restored:
    """Put the archive back where `sources` say, refusing (before writing anything) unless
    the database, the photos folder and the key file are absent or empty and the archive's
    schema is one this program knows."""
    manifest = read_manifest(archive)
    revision = manifest.get("alembic_revision")
    if revision is not None and revision not in known_revisions():
        raise BackupError(
            f"the archive's database is at revision {revision}, newer than this civicbot "
            f"({sources.version}): restore it with the version that made it "
            f"({manifest.get('version')})"
        )
    kind = "sqlite" if sources.sqlite_file is not None else "postgresql"
    if manifest.get("database") != kind:
        raise BackupError(
            f"the archive holds a {manifest.get('database')} database; DATABASE_URL names {kind}"
        )
    key_target = _check_keys(manifest, sources)
    _check_media_empty(sources.media_folder)
    with tarfile.open(archive, "r:gz") as tar:
        if kind == "sqlite":
            _restore_sqlite(tar, sources)
        else:
            asyncio.run(_restore_postgres(tar, sources.database_url))
        if key_target is not None:
            _extract_private(tar, KEY_MEMBER, key_target)
        if sources.media_folder is not None:
            _restore_media(tar, sources.media_folder)
    return Restored(manifest, key_target)


def _check_keys(manifest: dict[str, Any], sources: Sources) -> Path | None:
    """Where the archive's key file goes (None: nowhere); refuses a key that would not open
    the archive's sealed data."""
    note = manifest.get("secret_key") or {}
    wanted = note.get("fingerprint")
    if sources.environment_keys:  # SECRET_KEY given: it must be the archive's
        if wanted and fingerprint(sources.environment_keys[0]) != wanted:
            raise BackupError(
                "SECRET_KEY is not the key the archive's data was sealed with: set the "
                "original SECRET_KEY (and SECRET_KEY_PREVIOUS) before restoring"
            )
        return None
    if sources.key_file is None:
        raise BackupError("SECRET_KEY must be set when DATABASE_URL is not SQLite")
    if sources.key_file.exists() and sources.key_file.stat().st_size:
        raise BackupError(f"the key file {sources.key_file} exists: restore into an empty place")
    if not note.get("included") and not wanted:
        return None  # no key was ever made: nothing in the archive is sealed
    if not note.get("included"):
        raise BackupError(
            "the archive holds no key (it came from SECRET_KEY): set SECRET_KEY to that key "
            "before restoring"
        )
    return sources.key_file


def _check_media_empty(media: Path | None) -> None:
    if media is not None and media.is_dir() and any(media.iterdir()):
        raise BackupError(f"the photos folder {media} is not empty: restore into an empty place")


def _restore_sqlite(tar: tarfile.TarFile, sources: Sources) -> None:
    target = sources.sqlite_file
    assert target is not None
    if _sqlite_has_tables(target):
        raise BackupError(f"the database {target} is not empty: restore into an empty place")
    for leftover in (
        target.with_name(f"{target.name}-wal"),
        target.with_name(f"{target.name}-shm"),
    ):
        leftover.unlink(missing_ok=True)  # of an empty database; they would not match the copy
    _extract_private(tar, SQLITE_MEMBER, target)


def _sqlite_has_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    finally:
        connection.close()


def _extract_private(tar: tarfile.TarFile, member: str, target: Path) -> None:
    """One member's bytes into `target`, 0600, written whole then renamed into place."""
    source = tar.extractfile(member)
    if source is None:
        raise BackupError(f"the archive has no {member}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restoring")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        shutil.copyfileobj(source, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, target)


def _restore_media(tar: tarfile.TarFile, media: Path) -> None:
    """Only the names the photo store makes (xx/yy/KEY, the key's own first characters):
    nothing in an archive can write outside the folder."""
    for member in tar.getmembers():
        parts = member.name.split("/")
        if len(parts) != 4 or parts[0] != MEDIA_MEMBER or not member.isfile():
            continue
        _, first, second, key = parts
        if valid_key(key) and (first, second) == (key[:2], key[2:4]):
            (media / first / second).mkdir(mode=0o700, parents=True, exist_ok=True)
            _extract_private(tar, member.name, media / first / second / key)


async def _restore_postgres(tar: tarfile.TarFile, database_url: str) -> None:
    import asyncpg

    url = make_url(database_url)
    await _create_if_absent(url)
    connection = await asyncpg.connect(_dsn(url))
    try:
        server_major = int(await connection.fetchval("SHOW server_version_num")) // 10000
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    if tables:
        raise BackupError(f"the database {url.database} is not empty: restore into an empty place")
    pg_restore = postgres_tool("pg_restore", server_major)
    with tempfile.TemporaryDirectory() as work:
        dump = Path(work) / PG_MEMBER
        _extract_private(tar, PG_MEMBER, dump)
        done = await asyncio.create_subprocess_exec(
            str(pg_restore),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={url.database}",
            str(dump),
            env=_libpq_environment(url),
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await done.communicate()
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {_first_line(errors)}")


async def _create_if_absent(url: URL) -> None:
    """An absent database is an empty place: made on the server's maintenance database."""
    import asyncpg

    try:
        connection = await asyncpg.connect(_dsn(url))
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(_dsn(url.set(database="postgres")))
        try:
            name = (url.database or "").replace('"', '""')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    else:
        with contextlib.suppress(Exception):
            await connection.close()
