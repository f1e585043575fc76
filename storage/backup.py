"""One archive of everything the bot keeps (docs/operations.md, Backups): the database (SQLite
through its online backup API, PostgreSQL through `pg_dump` in one snapshot), the secret key
file, the photos folder, and a manifest; and putting an archive back into an empty place.

What to archive comes in a `Sources` (bot/runtime/backups.py makes one from the settings):
storage knows files and URLs, not settings."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import glob
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import URL, make_url

from storage.db import VERSION_TABLE, asyncpg_dsn, known_revisions, sqlite_path
from storage.files import PRIVATE, make_folders, stored_files, valid_key

BACKUP_PREFIX = "civicbot-backup"  # `civicbot backup`'s archives, which --keep prunes
ARCHIVE_NAME = re.compile(r"^civicbot-backup-\d{8}T\d{6}Z\.tar\.gz$")
# Taken automatically before migrations: named for the change, pruned by themselves.
PREMIGRATE_NAME = re.compile(r"^civicbot-premigrate-.+-(\d{8}T\d{6}Z)\.tar\.gz$")
KEEP_PREMIGRATE = 3
STAMP = "%Y%m%dT%H%M%SZ"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"  # pg_dump's custom format, for pg_restore
KEY_MEMBER = "civicbot.secret"
MEDIA_MEMBER = "media"
FORMAT = 1
FINGERPRINT_LABEL = b"civicbot backup: which key sealed this data"
POSTGRES_BINARIES = "/usr/lib/postgresql/*/bin"  # Debian's and Ubuntu's, beside PATH
STAGING_PREFIX = ".civicbot-backup-"  # an archive's work folder, inside the archives' folder
STAGING_LOCK = ".in-use"  # flocked while its archive is being made
STALE_UNLOCKED = timedelta(hours=6)  # a work folder with no lock file yet: left this long
# link() refused by the filesystem itself (CIFS, some FUSE, vfat), not by a name taken.
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV}
# What a truncated or corrupt gzip stream raises while it is read.
UNREADABLE = (EOFError, zlib.error, tarfile.TarError)
MEDIA_STAGING = ".civicbot-restoring"  # inside a photos folder that exists (a mount, a link)


class BackupError(Exception):
    """An archive cannot be made or put back; the message is the one line the operator reads."""


@dataclass(frozen=True)
class Sources:
    database_url: str
    key_file: Path | None  # SQLite's civicbot.secret, when the keys come from it
    keys: tuple[str, ...]  # the keys in use, newest first (Settings); () when none was made
    keys_from_environment: bool  # SECRET_KEY (and SECRET_KEY_PREVIOUS) are set
    include_environment_keys: bool  # the operator asked for them in the archive
    media_folder: Path | None  # None: the photos are in a bucket
    bucket: dict[str, str] | None  # its name and endpoint, for the manifest's note
    version: str  # the program's, for the manifest
    include_key_file: bool = True  # False: --without-secret-key (archives that go off-site)
    file_mode: int = PRIVATE  # FILE_MODE, for the files restored into the bot's place

    @property
    def sqlite_file(self) -> Path | None:
        path = sqlite_path(self.database_url)
        if path is None and make_url(self.database_url).get_backend_name() == "sqlite":
            raise BackupError("an SQLite database in memory has nothing to back up")
        return path


def fingerprint(key: str) -> str:
    """Names a key without revealing it: restore checks the key it will use is this one."""
    return hmac.new(key.encode(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


# --- making an archive ---------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def archive_name(now: datetime, prefix: str = BACKUP_PREFIX) -> str:
    return f"{prefix}-{now.strftime(STAMP)}.tar.gz"


def create_archive(sources: Sources, folder: Path) -> Path:
    """`civicbot backup`: one dated archive in `folder` (made 0700 if new), photos included;
    its path. Runs its own event loop for PostgreSQL: call it outside one."""
    return _archive(sources, folder, BACKUP_PREFIX, photos=True, reuse=False)


def premigrate_archive(sources: Sources, folder: Path, current: str, target: str) -> Path:
    """The archive taken before migrations change the schema from `current` to `target`:
    photos left out (no migration touches them); the one already there for the same change
    of the same database is reused (a start that fails again writes no second one); only the
    newest KEEP_PREMIGRATE of them are kept, never counted by `backup --keep`."""
    prefix = f"civicbot-premigrate-{current}-to-{target}"
    path = _archive(sources, folder, prefix, photos=False, reuse=True)
    _prune_premigrate(folder, keeping=path)
    return path


def _archive(sources: Sources, folder: Path, prefix: str, photos: bool, reuse: bool) -> Path:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_stale_staging(folder)
        with _staging(folder) as staging:
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "version": sources.version,
                "created_at": _now().isoformat(timespec="seconds"),
            }
            sqlite_path = sources.sqlite_file
            if sqlite_path is not None:
                manifest |= _copy_sqlite(sqlite_path, staging / SQLITE_MEMBER, digest=reuse)
            else:
                manifest |= asyncio.run(_dump_postgres(sources.database_url, staging / PG_MEMBER))
            if reuse and (same := _same_database(folder, prefix, manifest)) is not None:
                return same
            manifest["secret_key"] = _stage_keys(sources, staging / KEY_MEMBER)
            manifest["photos"] = _photos_note(sources, photos)
            media = sources.media_folder if photos else None
            return _write_tar(staging, manifest, media, folder, prefix)
    except (OSError, sqlite3.OperationalError) as error:  # a full disk, a folder not ours
        reason = getattr(error, "strerror", None) or str(error)
        raise BackupError(
            f"cannot write an archive in {folder} ({reason.lower()}): free space there or "
            "make it writable for this user"
        ) from None


@contextlib.contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    """An archive's work folder in `folder`, locked (flock) until it is removed: a backup
    killed (SIGTERM skips the cleanup) leaves it unlocked, and the next one removes it."""
    with tempfile.TemporaryDirectory(dir=folder, prefix=STAGING_PREFIX) as work:
        lock = os.open(Path(work) / STAGING_LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield Path(work)
        finally:
            os.close(lock)


def _remove_stale_staging(folder: Path) -> None:
    """Work folders of archives whose process died: no longer locked, or (killed before
    its lock file was made) old. One in use elsewhere is locked and left alone."""
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        if not staging.is_dir() or staging.is_symlink():
            continue
        try:
            lock = os.open(staging / STAGING_LOCK, os.O_RDONLY)
        except FileNotFoundError:
            age = time.time() - staging.stat().st_mtime
            if age > STALE_UNLOCKED.total_seconds():
                shutil.rmtree(staging, ignore_errors=True)
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # another backup is writing there now
        else:
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            os.close(lock)


def _copy_sqlite(source: Path, target: Path, digest: bool) -> dict[str, Any]:
    """A consistent copy while the bot writes: the online backup API, in one step, reads one
    snapshot (the WAL's committed frames included); writers go on meanwhile. The content's
    digest (a full dump, ~3 s per 100 MB) only when an archive of it may be reused."""
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
        content = {"content_sha256": _content_digest(copy)} if digest else {}
    finally:
        copy.close()
    os.chmod(target, 0o600)
    return {"database": "sqlite", "alembic_revision": revision, "tables": counts, **content}


def _content_digest(connection: sqlite3.Connection) -> str:
    """The schema's and rows' digest, as SQL: the file's pages are no measure (a migration
    that failed and was rolled back leaves the same data on other pages)."""
    digest = hashlib.sha256()
    for line in connection.iterdump():
        digest.update(line.encode())
    return digest.hexdigest()


def _same_database(folder: Path, prefix: str, manifest: dict[str, Any]) -> Path | None:
    """An archive of `prefix` in `folder` of this very database (SQLite's digest)."""
    wanted = manifest.get("content_sha256")
    if wanted is None:
        return None
    pattern = re.compile(rf"^{re.escape(prefix)}-\d{{8}}T\d{{6}}Z\.tar\.gz$")
    for path in sorted(folder.iterdir(), reverse=True):
        if pattern.match(path.name):
            with contextlib.suppress(BackupError):
                if read_manifest(path).get("content_sha256") == wanted:
                    return path
    return None


def _prune_premigrate(folder: Path, keeping: Path) -> None:
    """All but the newest KEEP_PREMIGRATE, and never `keeping` (the one just written or
    reused, whatever its date)."""
    dated = []
    for path in folder.iterdir():
        if path == keeping:
            continue
        if match := PREMIGRATE_NAME.match(path.name):
            dated.append((match.group(1), path.stat().st_mtime_ns, path))
    for *_, path in sorted(dated)[: max(len(dated) - KEEP_PREMIGRATE + 1, 0)]:
        path.unlink(missing_ok=True)


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
    url = make_url(database_url)
    connection = await _connect(url)
    try:
        server_major = int(await connection.fetchval("SHOW server_version_num")) // 10000
        pg_dump, pg_dump_major = postgres_tool("pg_dump", server_major)
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
    return {
        "database": "postgresql",
        "alembic_revision": revision,
        "tables": counts,
        "pg_dump_major": pg_dump_major,  # pg_restore must be at least this one
    }


def _stage_keys(sources: Sources, target: Path) -> dict[str, Any]:
    """The keys travel with the data only from the key file (unless --without-secret-key),
    or when the operator asks: an environment's key usually lives in a secret store, kept
    apart from the backups."""
    keys = sources.keys
    note: dict[str, Any] = {
        "source": "environment" if sources.keys_from_environment else "file" if keys else "none",
        "fingerprint": fingerprint(keys[0]) if keys else None,  # the key it was sealed with
        "fingerprints": [fingerprint(key) for key in keys],  # and the older ones it read
    }
    if sources.keys_from_environment:
        included = sources.include_environment_keys
    else:
        included = bool(keys) and sources.include_key_file
        if keys:
            note["key_file"] = str(sources.key_file)  # where it was, for a restore without it
    if included:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            if sources.keys_from_environment:  # the key file's form: newest first, one a line
                handle.write(("\n".join(keys) + "\n").encode())
            else:
                assert sources.key_file is not None
                handle.write(sources.key_file.read_bytes())  # as it is, byte for byte
    note["included"] = included
    return note


def _photos_note(sources: Sources, photos: bool) -> dict[str, Any]:
    if sources.media_folder is None:
        return {"kind": "s3", **(sources.bucket or {}), "included": False}
    return {"kind": "folder", "included": photos}  # "files": counted as they go in


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode = 0o700 if info.isdir() else 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar(
    staging: Path, manifest: dict[str, Any], media: Path | None, folder: Path, prefix: str
) -> Path:
    """The archive, the manifest last (it counts the photos that went in), under a name
    no other archive has."""
    partial = staging / "archive.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for member in (SQLITE_MEMBER, PG_MEMBER, KEY_MEMBER):
                if (staging / member).exists():
                    tar.add(staging / member, arcname=member, filter=_private)
            if media is not None:
                manifest["photos"]["files"] = _add_photos(tar, media)
            said = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
            info = _private(tarfile.TarInfo(MANIFEST))
            info.size, info.mtime = len(said), int(time.time())
            tar.addfile(info, io.BytesIO(said))
        raw.flush()
        os.fsync(raw.fileno())
    return _publish(partial, folder, prefix)


def _add_photos(tar: tarfile.TarFile, media: Path) -> int:
    """The store's files; one the housekeeping deletes meanwhile is skipped. How many went in."""
    added = 0
    for photo in stored_files(media):
        name = f"{MEDIA_MEMBER}/{photo.relative_to(media).as_posix()}"
        try:
            tar.add(photo, arcname=name, filter=_private)  # nothing written if it is gone
        except FileNotFoundError:
            continue
        added += 1
    return added


def _publish(partial: Path, folder: Path, prefix: str) -> Path:
    """A hard link under this second's name, or the next free second's: link() never
    replaces, so two archives made at once never overwrite each other."""
    moment = _now()
    for step in range(60):
        path = folder / archive_name(moment + timedelta(seconds=step), prefix)
        try:
            os.link(partial, path)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno not in NO_HARD_LINKS:
                raise
            if not _reserve(path):
                continue
            os.replace(partial, path)  # over our own empty reservation
        return path
    raise BackupError(f"{path} and the 59 names before it exist already")


def _reserve(path: Path) -> bool:
    """The name taken by an empty file of ours (where the folder has no hard links); False
    when another archive has it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest archives of `civicbot backup` in `folder` (by the
    date in their name; other files, the automatic ones included, are left alone); the
    deleted."""
    archives = sorted(p for p in folder.iterdir() if ARCHIVE_NAME.match(p.name))
    doomed = archives[: max(len(archives) - keep, 0)]
    for path in doomed:
        path.unlink()
    return doomed


# --- PostgreSQL's tools ---------------------------------------------------------------


def postgres_tool(
    name: str, server_major: int, archive_major: int | None = None
) -> tuple[Path, int]:
    """pg_dump (the closest at or above the server's major version) or pg_restore (the
    newest, at or above both the server's and that of the pg_dump that wrote the archive):
    on PATH, or in Debian's versioned folders; its path and major version. One line saying
    what to install otherwise."""
    found: list[tuple[int, Path]] = []
    candidates = [shutil.which(name), *sorted(glob.glob(f"{POSTGRES_BINARIES}/{name}"))]
    for candidate in filter(None, candidates):
        major = _tool_major(Path(candidate))
        if major is not None:
            found.append((major, Path(candidate)))
    needed = max(server_major, archive_major or 0)
    good = [each for each in found if each[0] >= needed]
    if good:
        major, path = max(good) if name == "pg_restore" else min(good)
        return path, major
    package = f"postgresql-client-{needed}"
    if not found:
        raise BackupError(f"{name} not found: install {package} (or put {name} on PATH)")
    newest = max(found)
    than = (
        f"the pg_dump {archive_major} that wrote the archive"
        if archive_major is not None and archive_major > server_major
        else f"the server's {server_major}"
    )
    raise BackupError(f"{newest[1]} is version {newest[0]}, older than {than}: install {package}")


def _tool_major(path: Path) -> int | None:
    try:
        said = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", said)
    return int(match.group(1)) if match else None


async def _connect(url: URL) -> Any:
    """asyncpg's connection; one line (host and port, never the password) when the server
    cannot be reached or refuses us."""
    import asyncpg

    try:
        return await asyncpg.connect(asyncpg_dsn(url))
    except asyncpg.InvalidCatalogNameError:
        raise  # an absent database: restore makes it
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise BackupError(f"cannot connect to PostgreSQL at {where} ({reason})") from None


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
    photos_restored: bool


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:  # first in an automatic archive, last in `backup`'s
                if member.name == MANIFEST and member.isfile():
                    read = tar.extractfile(member)
                    assert read is not None
                    manifest: dict[str, Any] = json.loads(read.read())
                    return manifest
            raise KeyError(MANIFEST)
    except (OSError, *UNREADABLE, KeyError, ValueError) as error:
        reason = str(error) or type(error).__name__
        raise BackupError(f"{archive} is not a civicbot backup ({reason})") from None


def restore_archive(archive: Path, sources: Sources) -> Restored:
    """Put the archive back where `sources` say, refusing (before writing anything) unless
    the database, the photos folder and the key file are absent or empty and the archive's
    schema is one this program knows. Everything is written under temporary names first and
    renamed into place at the end, the database last: a restore that fails leaves nothing."""
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
    photos = manifest.get("photos") or {}
    with_photos = photos.get("kind") == "folder" and photos.get("included", True)
    media = sources.media_folder if with_photos else None
    _check_media_empty(media)
    sqlite_target = sources.sqlite_file
    if sqlite_target is not None and _sqlite_has_tables(sqlite_target):
        raise BackupError(f"the database {sqlite_target} is not empty: restore into an empty place")
    url = make_url(sources.database_url)
    server_major = 0 if sqlite_target is not None else asyncio.run(_empty_postgres(url))
    staged = _Staged(sources.file_mode)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {member.name: member for member in tar.getmembers()}
            if media is not None:
                staged.photos(tar, members.values(), media)
            if key_target is not None:  # the key file is always 0600, whatever FILE_MODE
                staged.file(tar, members, KEY_MEMBER, key_target, PRIVATE)
            if sqlite_target is not None:
                staged.file(tar, members, SQLITE_MEMBER, sqlite_target)
                for leftover in (f"{sqlite_target.name}-wal", f"{sqlite_target.name}-shm"):
                    # of an empty database: they would not match the restored file
                    sqlite_target.with_name(leftover).unlink(missing_ok=True)
                staged.commit()  # the database last: a place without it is still empty
            else:
                staged.commit()
                dumped = manifest.get("pg_dump_major")
                asyncio.run(_restore_postgres(tar, members, url, server_major, dumped))
    except OSError as error:
        staged.undo()
        reason = (error.strerror or str(error)).lower()
        where = f" ({error.filename})" if error.filename else ""
        raise BackupError(
            f"the restore failed{where}: {reason}; nothing was kept, fix that and run it again"
        ) from None
    except UNREADABLE as error:  # cut short or corrupt after the manifest
        staged.undo()
        reason = str(error) or type(error).__name__
        raise BackupError(f"{archive} is damaged ({reason}); nothing was kept") from None
    except BaseException:
        staged.undo()
        raise
    return Restored(manifest, key_target, media is not None)


def _check_keys(manifest: dict[str, Any], sources: Sources) -> Path | None:
    """Where the archive's key file goes (None: nowhere); refuses a key that would not open
    the archive's sealed data."""
    note = manifest.get("secret_key") or {}
    wanted = note.get("fingerprint")  # the key that sealed; after a rotation an older one here
    held = {fingerprint(key) for key in sources.keys}
    if sources.keys_from_environment:  # SECRET_KEY given: it must be the archive's
        if wanted and wanted not in held:
            raise BackupError(
                "SECRET_KEY is not the key the archive's data was sealed with: set the "
                "original SECRET_KEY (and SECRET_KEY_PREVIOUS) before restoring"
            )
        return None
    if sources.key_file is None:
        raise BackupError("SECRET_KEY must be set when DATABASE_URL is not SQLite")
    kept_apart = not note.get("included") and note.get("source") == "file"
    if sources.key_file.exists() and sources.key_file.stat().st_size:
        if kept_apart and wanted in held:
            return None  # the archive's own key, kept apart from it and put back first
        raise BackupError(f"the key file {sources.key_file} exists: restore into an empty place")
    if not note.get("included") and not wanted:
        return None  # no key was ever made: nothing in the archive is sealed
    if kept_apart:
        raise BackupError(
            f"the archive holds no key (made with --without-secret-key): put the key file it "
            f"was made with (fingerprint {wanted}) at {sources.key_file}, or set SECRET_KEY "
            "to that key, before restoring"
        )
    if not note.get("included"):
        raise BackupError(
            "the archive holds no key (it came from SECRET_KEY): set SECRET_KEY to that key "
            "before restoring"
        )
    return sources.key_file


def _check_media_empty(media: Path | None) -> None:
    """Empty but for what a restore killed there left (staged inside, removed before)."""
    if media is None or not media.is_dir():
        return
    if any(each.name != MEDIA_STAGING for each in media.iterdir()):
        raise BackupError(f"the photos folder {media} is not empty: restore into an empty place")


def _sqlite_has_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    finally:
        connection.close()


class _Staged:
    """What a restore has written: under temporary names beside their places (the same
    filesystem, so that renaming them into place cannot fail half-way), then renamed; all
    of it removed again if anything fails."""

    def __init__(self, mode: int) -> None:
        self.mode = mode
        self.pending: list[tuple[Path, Path]] = []  # (temporary, place), in renaming order
        self.placed: list[Path] = []
        self.folders: list[Path] = []  # made here, removed on failure if left empty
        self.inside: set[Path] = set()  # places that stay: their contents are moved in

    def _folder(self, folder: Path) -> None:
        missing = [each for each in (folder, *folder.parents) if not each.exists()]
        make_folders(folder, self.mode)
        self.folders.extend(missing)

    def file(
        self,
        tar: tarfile.TarFile,
        members: dict[str, tarfile.TarInfo],
        name: str,
        target: Path,
        mode: int | None = None,
    ) -> None:
        source = _regular(tar, members, name)
        self._folder(target.parent)
        temporary = target.with_name(f".{target.name}.restoring")
        temporary.unlink(missing_ok=True)  # of a restore killed before it could clean up
        self.pending.append((temporary, target))
        _write(source, temporary, self.mode if mode is None else mode)

    def photos(self, tar: tarfile.TarFile, members: Any, media: Path) -> None:
        """Only the names the photo store makes (xx/yy/KEY, the key's own first characters),
        regular files only: anything else in an archive (`../`, absolute paths, links) is
        ignored, and nothing is written outside the folder.

        A photos folder that exists (empty) may be a mount point or a link, which cannot be
        replaced: the photos are staged inside it and moved into it at the end."""
        if media.is_dir():
            temporary = media / MEDIA_STAGING
            self.inside.add(media)
        else:
            self._folder(media.parent)
            temporary = media.with_name(f".{media.name}.restoring")
        shutil.rmtree(temporary, ignore_errors=True)
        self.pending.append((temporary, media))
        make_folders(temporary, self.mode)
        for member in members:
            parts = member.name.split("/")
            if len(parts) != 4 or parts[0] != MEDIA_MEMBER or not member.isfile():
                continue
            _, first, second, key = parts
            if valid_key(key) and (first, second) == (key[:2], key[2:4]):
                make_folders(temporary / first / second, self.mode)
                source = _regular(tar, {member.name: member}, member.name)
                _write(source, temporary / first / second / key, self.mode)

    def commit(self) -> None:
        for temporary, place in self.pending:
            if place not in self.inside:
                os.replace(temporary, place)
                self.placed.append(place)
                continue
            for each in sorted(temporary.iterdir()):
                os.replace(each, place / each.name)
                self.placed.append(place / each.name)
            temporary.rmdir()
        self.pending = []

    def undo(self) -> None:
        for path in [*(each for each, _ in self.pending), *self.placed]:
            with contextlib.suppress(OSError):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _regular(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> IO[bytes]:
    """A member's bytes; refused unless it is a regular file (a link or a device is not ours)."""
    member = members.get(name)
    source = tar.extractfile(member) if member is not None and member.isfile() else None
    if source is None:
        raise BackupError(f"the archive has no {name} (as a regular file)")
    return source


def _write(source: IO[bytes], target: Path, mode: int) -> None:
    """A new file of exactly `mode`, written whole and synced."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # whatever the umask
        shutil.copyfileobj(source, handle)
        handle.flush()
        os.fsync(handle.fileno())


async def _empty_postgres(url: URL) -> int:
    """The server's major version, once the database is there (made if absent) and empty."""
    await _create_if_absent(url)
    connection = await _connect(url)
    try:
        server_major = int(await connection.fetchval("SHOW server_version_num")) // 10000
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    if tables:
        raise BackupError(f"the database {url.database} is not empty: restore into an empty place")
    return server_major


async def _restore_postgres(
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    url: URL,
    server_major: int,
    dumped: int | None,
) -> None:
    """pg_restore in one transaction: a failure leaves the database as empty as it was."""
    pg_restore, _ = postgres_tool("pg_restore", server_major, dumped)
    with tempfile.TemporaryDirectory() as work:
        dump = Path(work) / PG_MEMBER
        _write(_regular(tar, members, PG_MEMBER), dump, PRIVATE)
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
        connection = await _connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await _connect(url.set(database="postgres"))
        try:
            name = (url.database or "").replace('"', '""')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    else:
        with contextlib.suppress(Exception):
            await connection.close()
