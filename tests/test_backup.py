"""`civicbot backup` and `restore` (issue 31 item 2) and `civicbot db upgrade|downgrade|
current|history` (item 3): an archive taken while residents write restores every row, every
sealed signature (it still opens and its export verifies) and every photo; an SQLite schema
is archived before migrations change it, by the command and by a start; a database newer
than the code stops every start with one line."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import fcntl
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.commands import cli
from storage import backup as mechanics
from storage.db import Database, newest_revision
from storage.models import Base, WishPhoto
from tests.conftest import SECRET_KEY, Civicbot, Say, StartBot, _drop, execute, resident_of, rows
from tests.fake_telegram import FakeTelegram
from tests.initiatives import open_initiative, pin, sign_on_telegram
from tests.places import category
from tests.serve_process import run_to_its_end
from tests.services import Unavailable, find_binaries
from tests.test_photos import jpeg_with_gps, placed_resident, stored_file

SIGNERS = [
    ("Асанов Бакыт", pin(dt.date(1980, 1, 1))),
    ("Бекова Айгүл", pin(dt.date(1990, 2, 2), first=1)),
]
TRAFFIC = 400  # at most, messages from other residents while the backup runs
AFTER_SNAPSHOT = 3  # of them written once the backup has its snapshot, before it ends
ARCHIVE = re.compile(r"civicbot-backup-\d{8}T\d{6}Z\.tar\.gz$")
Rows = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


@pytest.fixture(autouse=True)
def postgres_tools_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_dump and pg_restore of the tests' own server first (pgserver's where the system has
    none): what an operator's PATH would hold beside their server."""
    with contextlib.suppress(Unavailable):
        tools = find_binaries().bin
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")


async def every_row(database_url: str) -> Rows:
    """Every table's rows by primary key, the schema's version included."""
    db = Database(database_url)
    found: Rows = {}
    try:
        async with db.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                keys = [column.name for column in table.primary_key.columns]
                result = await connection.execute(select(table))
                found[table.name] = {
                    tuple(row._mapping[k] for k in keys): tuple(row) for row in result
                }
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            found["alembic_version"] = {(version,): (version,)}
    finally:
        await db.close()
    return found


def run_cli(*arguments: str) -> tuple[int, str, str]:
    """`civicbot ARGUMENTS` with the environment as the test set it."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(arguments))
    return code, out.getvalue(), err.getvalue()


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return dict(json.loads(member.read()))


@pytest.fixture
async def fresh_place(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """Where to restore: an SQLite file not there yet, or a PostgreSQL database not there yet
    on the same server (restore makes it; dropped afterwards)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'civicbot.db'}"
        return
    name = f"civicbot_test_restored_{uuid.uuid4().hex[:12]}"
    yield url.set(database=name).render_as_string(hide_password=False)
    await _drop(url.set(database="postgres").render_as_string(hide_password=False), name)


async def test_a_backup_under_traffic_restores_every_row_seal_and_photo(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    fresh_place: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    say: Say,
) -> None:
    # SQLite's keys from the key file beside it (it goes in the archive); PostgreSQL's from
    # SECRET_KEY (it stays out, and restore checks the key given is the one that sealed).
    on_sqlite = database_url.startswith("sqlite")
    media = tmp_path / "media"
    monkeypatch.setenv("MEDIA_DIR", str(media))
    keys: dict[str, Any] = {"secret_key": None} if on_sqlite else {}
    if on_sqlite:
        monkeypatch.delenv("SECRET_KEY")
    assert (await civicbot(*open_initiative("LIST")))[0] == 0
    runtime = await start_bot("webhook", **keys)
    for number, (name, digits) in enumerate(SIGNERS):
        signer = resident_of(runtime, telegram, "webhook", 8801 + number, "en")
        await sign_on_telegram(signer, "en", "LIST", name, digits, ("Chaek", "Lenin", "2"))
    photographer = await placed_resident(runtime, telegram, 8901)
    await photographer.send_photo(jpeg_with_gps(), caption="Жол бузулган")
    await photographer.send_photo(jpeg_with_gps(colour="red"))
    await photographer.press(say("en", "kind.change"))
    await photographer.press(category("roads")["en"])
    photos = await rows(database_url, WishPhoto)
    assert len(photos) == 2
    before = await every_row(database_url)

    # The traffic starts before the backup and goes on until it ends; the backup waits,
    # between its snapshot and its archive, for a few more writes (bounded), so that the
    # snapshot falls strictly inside the traffic.
    snapshot_taken, written_since = threading.Event(), threading.Event()
    write_tar = mechanics._write_tar

    def after_more_writes(*arguments: Any) -> Path:
        snapshot_taken.set()
        written_since.wait(timeout=120)
        return write_tar(*arguments)

    monkeypatch.setattr(mechanics, "_write_tar", after_more_writes)
    monkeypatch.setenv("FILE_MODE", "0640")  # for the files restored below; archives 0600
    first = resident_of(runtime, telegram, "webhook", 9000, "ru")
    await first.send("/start m-naryn_city")

    async def back_up() -> tuple[int, str, str]:
        return await civicbot("backup", "--to", str(tmp_path / "backups"))

    backing = asyncio.create_task(back_up())
    since = 0
    for number in range(1, TRAFFIC):
        if backing.done():
            break
        resident = resident_of(runtime, telegram, "webhook", 9000 + number, "ru")
        await resident.send("/start m-naryn_city")
        since += snapshot_taken.is_set()
        if since >= AFTER_SNAPSHOT:
            written_since.set()
    written_since.set()
    code, out, err = await backing
    assert code == 0, err
    archive = Path(out.strip())
    assert ARCHIVE.search(archive.name) and archive.parent == tmp_path / "backups"
    assert mode(archive) == 0o600
    after = await every_row(database_url)
    said = manifest(archive)
    assert len(before["people"]) < said["tables"]["people"] < len(after["people"])
    assert said["database"] == ("sqlite" if on_sqlite else "postgresql")
    assert said["alembic_revision"] == newest_revision()
    assert said["secret_key"]["included"] is on_sqlite
    with tarfile.open(archive) as tar:
        assert {member.mode for member in tar.getmembers()} == {0o600}

    monkeypatch.setenv("DATABASE_URL", fresh_place)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "restored-media"))
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 0, err
    assert "current" in out
    restored = await every_row(fresh_place)

    assert {name: len(table) for name, table in restored.items()} == said["tables"]
    for name, table in restored.items():
        # A row the traffic did not touch is the same; one it wrote is as it was before or
        # after the backup, and nothing the database held before is missing.
        for key, row in before[name].items():
            assert table.get(key) in (row, after[name].get(key)), (name, key)
        assert set(table) <= set(after[name]), name
    if on_sqlite:
        restored_key = tmp_path / "restored" / "civicbot.secret"
        assert restored_key.read_bytes() == (tmp_path / "civicbot.secret").read_bytes()
        assert mode(restored_key) == 0o600  # the key file's own, whatever FILE_MODE
        assert mode(tmp_path / "restored" / "civicbot.db") == 0o640
    for photo in photos:
        kept = stored_file(tmp_path / "restored-media", photo.key)
        assert kept == stored_file(media, photo.key)
        assert (
            mode(tmp_path / "restored-media" / photo.key[:2] / photo.key[2:4] / photo.key) == 0o640
        )
    assert said["photos"] == {"kind": "folder", "included": True, "files": len(photos)}

    # The seals open with the restored key (or the same SECRET_KEY): the export lists the
    # signers, and its chain verifies.
    listed = tmp_path / "restored-list.csv"
    code, _, err = await asyncio.to_thread(
        run_cli, "export", "signatures", "--initiative", "list", "--output", str(listed)
    )
    assert code == 0, err
    head = re.search(r"chain head ([0-9a-f]{64})", err)
    assert head is not None, err
    exported = listed.read_text(encoding="utf-8")
    assert all(name in exported and digits in exported for name, digits in SIGNERS)
    code, out, _ = await asyncio.to_thread(
        run_cli, "verify-export", str(listed), "--head", head.group(1)
    )
    assert code == 0 and "intact" in out

    # Once restored, the place is no longer empty: a second restore refuses in one line.
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "restore into an empty place" in err


async def test_restore_refuses_a_key_that_did_not_seal_the_data_and_a_full_photo_folder(
    civicbot: Civicbot, database_url: str, fresh_place: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"), "--include-secret-key")
    assert code == 0, err
    archive = Path(out.strip())
    with tarfile.open(archive) as tar:
        key = tar.extractfile("civicbot.secret")
        assert key is not None and key.read().decode().split() == [SECRET_KEY]
    monkeypatch.setenv("DATABASE_URL", fresh_place)
    monkeypatch.setenv("SECRET_KEY", "another-key-of-sufficient-length-0123456789")
    code, _, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 2 and "SECRET_KEY is not the key" in err and err.count("\n") == 1
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    (tmp_path / "full" / "ab").mkdir(parents=True)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "full"))
    code, _, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 2 and "photos folder" in err and err.count("\n") == 1
    # An archive made by a newer version (its schema unknown here) is refused too.
    newer = tmp_path / "newer.tar.gz"
    said = manifest(archive) | {"alembic_revision": "f00d", "version": "9.0.0"}
    with tarfile.open(archive) as old, tarfile.open(newer, "w:gz") as new:
        for member in old.getmembers():
            data = old.extractfile(member)
            if member.name == "manifest.json":
                content = json.dumps(said).encode()
                member.size = len(content)
                data = io.BytesIO(content)
            new.addfile(member, data)
    monkeypatch.delenv("MEDIA_DIR")
    code, _, err = await asyncio.to_thread(run_cli, "restore", str(newer))
    assert code == 2 and err.count("\n") == 1
    assert "revision f00d, newer than this civicbot" in err and "(9.0.0)" in err
    # Nothing was written before refusing: no file, no table.
    assert not (tmp_path / "restored").exists() and await tables_in(fresh_place) == 0


async def test_photos_in_a_bucket_are_named_not_archived(
    civicbot: Civicbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIA_S3_BUCKET", "civic-photos")
    monkeypatch.setenv("MEDIA_S3_ENDPOINT", "https://s3.example.test")
    code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"))
    assert code == 0, err
    archive = Path(out.strip())
    assert manifest(archive)["photos"] == {
        "kind": "s3", "bucket": "civic-photos", "endpoint": "https://s3.example.test",
        "included": False,
    }  # fmt: skip
    with tarfile.open(archive) as tar:
        assert not [name for name in tar.getnames() if name.startswith("media")]


async def test_keep_prunes_only_the_older_archives_of_its_own_name(
    civicbot: Civicbot, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    old = [folder / f"civicbot-backup-2020010{n}T000000Z.tar.gz" for n in range(1, 4)]
    other = [folder / "civicbot-backup-latest.tar.gz", folder / "notes.txt"]
    for path in [*old, *other]:
        path.write_text("x")
    code, out, err = await civicbot("backup", "--to", str(folder), "--keep", "2")
    assert code == 0, err
    newest = Path(out.strip())
    left = sorted(path.name for path in folder.iterdir())
    assert left == sorted([old[2].name, newest.name, *(p.name for p in other)])
    assert f"deleted {old[0]}" in err and f"deleted {old[1]}" in err


async def test_upgrade_and_downgrade_round_trip_archived_first_without_photos(
    civicbot: Civicbot, start_bot: StartBot, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    newest = newest_revision()
    on_sqlite = database_url.startswith("sqlite")
    # SQLite's automatic archives beside the database; PostgreSQL's (`db upgrade|downgrade`
    # only) in ./backups, as `civicbot backup` writes them.
    monkeypatch.chdir(tmp_path)
    beside = tmp_path / "backups"
    media = tmp_path / "media"
    monkeypatch.setenv("MEDIA_DIR", str(media))
    photo = media / "ab" / "cd" / f"abcd{'0' * 60}.jpg"  # migrations never touch photos
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"a photo")

    def archived() -> dict[str, Path]:
        """The automatic archives by the change they preceded (`0019-to-0017`)."""
        named = re.compile(r"^civicbot-premigrate-(.+)-\d{8}T\d{6}Z\.tar\.gz$")
        found = sorted(beside.iterdir()) if beside.exists() else []
        return {m.group(1): path for path in found if (m := named.match(path.name))}

    before = await every_row(database_url)
    code, out, err = await civicbot("db", "history")
    assert code == 0 and out.splitlines()[0].startswith("0001 ")
    assert out.splitlines()[-1].startswith(f"{newest} ") and out.endswith("(current)\n")

    # The wrong way, or a revision there is none of: one line, nothing archived or changed.
    code, _, err = await civicbot("db", "upgrade", "0017")
    assert (
        code == 2
        and err == f"civicbot: the database is at {newest}: 0017 is `civicbot db downgrade`'s way\n"
    )
    code, _, err = await civicbot("db", "downgrade", "zzzz")
    assert code == 2 and "no revision 'zzzz'" in err and err.count("\n") == 1
    assert archived() == {}

    code, out, err = await civicbot("db", "downgrade", "0017")
    assert code == 0 and out.endswith(f"{newest} → 0017\n"), err
    assert (await civicbot("db", "current"))[1] == f"0017 (behind: the newest is {newest})\n"
    code, out, err = await civicbot("db", "upgrade")
    assert code == 0 and out.endswith(f"0017 → {newest}\n"), err
    assert await every_row(database_url) == before
    code, out, err = await civicbot("db", "upgrade")
    assert code == 0 and out == f"already at {newest}\n"
    # Each change archived first, the schema as it was then, on either database (run on
    # purpose); photos left out, and said so.
    made = archived()
    assert sorted(made) == sorted([f"{newest}-to-0017", f"0017-to-{newest}"])
    for change, path in made.items():
        said = manifest(path)
        assert said["alembic_revision"] == change.split("-to-")[0]
        assert said["database"] == ("sqlite" if on_sqlite else "postgresql")
        assert said["photos"] == {"kind": "folder", "included": False}
        with tarfile.open(path) as tar:
            assert not [name for name in tar.getnames() if name.startswith("media")]
    # `backup --keep` counts and prunes only its own archives.
    code, out, err = await civicbot("backup", "--to", str(beside), "--keep", "1")
    assert code == 0, err
    assert sorted(archived()) == sorted(made)
    assert Path(out.strip()).parent == beside

    # A start migrates, archiving the SQLite file as it was first (PostgreSQL: not at a start).
    assert (await civicbot("db", "downgrade", "0017"))[0] == 0
    if not on_sqlite:
        for path in beside.iterdir():
            path.unlink()
    await start_bot("webhook")
    assert (await civicbot("db", "current"))[1] == f"{newest} (the newest)\n"
    if not on_sqlite:
        assert archived() == {}
        return
    assert len(archived()) <= mechanics.KEEP_PREMIGRATE
    by_start = archived()[f"0017-to-{newest}"]
    assert manifest(by_start)["alembic_revision"] == "0017"
    # It restores (the photos there stay), and upgraded it is the database as it was.
    restored = f"sqlite+aiosqlite:///{tmp_path / 'from-start' / 'civicbot.db'}"
    monkeypatch.setenv("DATABASE_URL", restored)
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(by_start))
    assert code == 0 and "civicbot db upgrade" in out and "holds no photos" in out, err
    assert f"those in {media.resolve()} stay as they are" in out  # left in place, as told
    code, out, err = await asyncio.to_thread(run_cli, "db", "upgrade")
    assert code == 0 and out.endswith(f"0017 → {newest}\n"), err
    assert await every_row(restored) == before
    assert photo.read_bytes() == b"a photo"


async def test_a_database_newer_than_the_code_stops_serve_with_one_line(
    civicbot: Civicbot, database_url: str, tmp_path: Path
) -> None:
    await execute(database_url, text("UPDATE alembic_version SET version_num = 'f00d'"))
    settings = {"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "PORT": "0"}
    done = await asyncio.to_thread(run_to_its_end, tmp_path, settings)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("civicbot: the database is at revision f00d, newer than this civicbot")
    # Every command that would migrate says the same; `db current` says what it is.
    code, _, err = await civicbot("db", "upgrade")
    assert code == 2 and err.splitlines() == [line]
    code, _, err = await civicbot("export", "wishes")
    assert code == 2 and err.splitlines() == [line]
    assert (await civicbot("db", "current"))[1] == "f00d (newer than this civicbot)\n"
    assert not (tmp_path / "backups").exists()  # nothing archived for a refused start


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (None, "pg_dump not found: install postgresql-client-"),
        ("pg_dump (PostgreSQL) 9.6.24", "is version 9, older than the server's"),
    ],
)
async def test_pg_dump_missing_or_older_than_the_server_is_one_line(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    said: str | None, expected: str,
) -> None:  # fmt: skip
    tools = tmp_path / "bin"
    tools.mkdir()
    if said is not None:
        fake = tools / "pg_dump"
        fake.write_text(f"#!/bin/sh\necho '{said}'\n")
        fake.chmod(0o700)
    monkeypatch.setenv("PATH", str(tools))
    monkeypatch.setattr(mechanics, "POSTGRES_BINARIES", str(tmp_path / "none"))
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    assert (await asyncio.to_thread(run_cli, "db", "init"))[0] == 0
    code, out, err = await asyncio.to_thread(run_cli, "backup", "--to", str(tmp_path / "b"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert expected in err, err
    assert not list((tmp_path / "b").glob("*.tar.gz"))


def serve_in(folder: Path, database_url: str, port: int = 0) -> subprocess.CompletedProcess[str]:
    """`civicbot serve` as systemd starts it, in `folder`: (exit code, output)."""
    settings = {"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "HOST": "127.0.0.1"}
    return run_to_its_end(folder, {**settings, "PORT": str(port)})


async def test_a_failing_migration_is_one_line_exit_2_and_archived_once(
    civicbot: Civicbot, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # exit 2 is not restarted by civicbot.service; were it restarted, the database unchanged
    # is not archived again.
    newest = newest_revision()
    on_sqlite = database_url.startswith("sqlite")
    monkeypatch.chdir(tmp_path)
    beside = tmp_path / "backups"
    assert (await civicbot("db", "downgrade", "0018"))[0] == 0
    for path in beside.iterdir():
        path.unlink()
    older = [
        beside / f"civicbot-premigrate-0001-to-0002-2020010{n}T000000Z.tar.gz" for n in (1, 2, 3)
    ]
    for path in older:
        path.write_text("x")
    # What 0019 creates first (alembic's copy of `wishes`), there already, as a migration that
    # failed half-way on SQLite leaves it: the migration fails, changing nothing.
    await execute(database_url, text("CREATE TABLE _alembic_tmp_wishes (id INTEGER PRIMARY KEY)"))
    await execute(database_url, text("CREATE TABLE console_sessions (id INTEGER PRIMARY KEY)"))
    for _ in range(2):
        done = await asyncio.to_thread(serve_in, tmp_path, database_url)
        assert done.returncode == 2, done.stderr
        last = done.stderr.splitlines()[-1]
        assert last.startswith("civicbot: the migration failed (exit 1, its error above)")
    assert (await civicbot("db", "current"))[1] == f"0018 (behind: the newest is {newest})\n"
    automatic = sorted(beside.glob(f"civicbot-premigrate-0018-to-{newest}-*.tar.gz"))
    if on_sqlite:  # one archive, of the database as it was; the oldest other pruned (3 kept)
        assert len(automatic) == 1 and manifest(automatic[0])["alembic_revision"] == "0018"
        assert not older[0].exists() and older[1].exists() and older[2].exists()
    else:  # PostgreSQL is not archived at a start
        assert automatic == []


async def test_an_archive_that_cannot_be_written_stops_the_migration_in_one_line(
    civicbot: Civicbot, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newest = newest_revision()
    monkeypatch.chdir(tmp_path)
    assert (await civicbot("db", "downgrade", "0018"))[0] == 0
    beside = tmp_path / "backups"
    for path in beside.iterdir():
        path.unlink()
    beside.rmdir()
    beside.write_text("a file where the archives' folder should be")
    code, out, err = await civicbot("db", "upgrade")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot write an archive in {beside} (file exists)" in err
    assert "nothing was migrated" in err
    if database_url.startswith("sqlite"):  # a start says the same, not "cannot listen"
        done = await asyncio.to_thread(serve_in, tmp_path, database_url)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        [line] = done.stderr.splitlines()
        assert f"cannot write an archive in {beside}" in line and "nothing was migrated" in line
        assert (await civicbot("db", "current"))[1] == f"0018 (behind: the newest is {newest})\n"
        # What the narrowed except still says: a port in use.
        beside.unlink()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            done = await asyncio.to_thread(serve_in, tmp_path, database_url, taken.getsockname()[1])
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.splitlines()[-1].startswith("civicbot: cannot listen on 127.0.0.1:")
    else:
        assert (await civicbot("db", "current"))[1] == f"0018 (behind: the newest is {newest})\n"


async def tables_in(database_url: str) -> int:
    """How many tables the database holds; 0 when it is not there at all."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not await asyncio.to_thread(Path(url.database or "").exists):
            return 0
        return len(await rows_of(database_url, "SELECT name FROM sqlite_master"))
    server = url.set(database="postgres").render_as_string(hide_password=False)
    named = await rows_of(server, f"SELECT 1 FROM pg_database WHERE datname = '{url.database}'")
    if not named:
        return 0
    found = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return len(await rows_of(database_url, found))


async def rows_of(database_url: str, query: str) -> list[Any]:
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            return list(await connection.execute(text(query)))
    finally:
        await db.close()


def with_photos(media: Path, count: int) -> list[Path]:
    """`count` files in the photo store's own names."""
    made = []
    for number in range(count):
        key = f"{number:02x}" * 2 + f"{number:060x}.jpg"
        path = media / key[:2] / key[2:4] / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"photo {number}".encode())
        made.append(path)
    return made


async def archived_then_elsewhere(
    civicbot: Civicbot, fresh_place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A backup of the test database and three photos; then the settings name an empty place
    to restore into (fresh_place, and photos under the returned folder's media/)."""
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    with_photos(tmp_path / "media", 3)
    code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"))
    assert code == 0, err
    monkeypatch.setenv("DATABASE_URL", fresh_place)
    place = tmp_path / "restored"
    monkeypatch.setenv("MEDIA_DIR", str(place / "media"))
    return Path(out.strip()), place


async def test_a_restore_that_fails_part_way_leaves_nothing_and_can_be_run_again(
    civicbot: Civicbot, fresh_place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, place = await archived_then_elsewhere(civicbot, fresh_place, tmp_path, monkeypatch)
    write = mechanics._write
    written: list[Path] = []

    def full_at_the_third_photo(source: Any, target: Path, mode: int) -> None:
        written.append(target)
        if len(written) == 3:
            raise OSError(28, "No space left on device", str(target))
        write(source, target, mode)

    monkeypatch.setattr(mechanics, "_write", full_at_the_third_photo)
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "no space left on device" in err and "nothing was kept" in err
    assert not place.exists() and await tables_in(fresh_place) == 0
    monkeypatch.setattr(mechanics, "_write", write)
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 0, err
    assert len(list((place / "media").glob("*/*/*"))) == 3 and await tables_in(fresh_place) > 0


async def test_a_photo_deleted_during_the_backup_is_left_out_and_not_counted(
    civicbot: Civicbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    photos = with_photos(tmp_path / "media", 3)
    add = tarfile.TarFile.add

    def housekeeping_deletes_one(tar: tarfile.TarFile, name: Any, *args: Any, **kw: Any) -> None:
        if Path(name) == photos[1]:
            photos[1].unlink()  # between the listing and the archiving
        add(tar, name, *args, **kw)

    monkeypatch.setattr(tarfile.TarFile, "add", housekeeping_deletes_one)
    code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"))
    assert code == 0, err
    archive = Path(out.strip())
    assert manifest(archive)["photos"] == {"kind": "folder", "included": True, "files": 2}
    with tarfile.open(archive) as tar:
        names = [name for name in tar.getnames() if name.startswith("media/")]
    assert names == [f"media/{p.relative_to(tmp_path / 'media').as_posix()}" for p in photos[::2]]


async def test_an_archive_without_the_key_restores_only_beside_that_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite's key file (PostgreSQL's key is never in an archive unless asked for).
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}")
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    key_file = tmp_path / "civicbot.secret"
    key_file.write_text(f"{SECRET_KEY}\n")
    assert (await asyncio.to_thread(run_cli, "db", "init"))[0] == 0
    code, out, err = await asyncio.to_thread(
        run_cli, "backup", "--to", str(tmp_path / "b"), "--without-secret-key"
    )
    assert code == 0 and f"the key file {key_file} is not in the archive" in err, err
    archive = Path(out.strip())
    said = manifest(archive)["secret_key"]
    assert said == {
        "source": "file", "fingerprint": mechanics.fingerprint(SECRET_KEY),
        "fingerprints": [mechanics.fingerprint(SECRET_KEY)], "key_file": str(key_file),
        "included": False,
    }  # fmt: skip
    with tarfile.open(archive) as tar:
        assert "civicbot.secret" not in tar.getnames()

    place = tmp_path / "restored"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{place / 'civicbot.db'}")
    monkeypatch.setenv("MEDIA_DIR", str(place / "media"))
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 2 and err.count("\n") == 1 and "--without-secret-key" in err, err
    assert f"at {place / 'civicbot.secret'}" in err and not place.exists()
    place.mkdir()
    (place / "civicbot.secret").write_text("another-key-of-sufficient-length-0123456789\n")
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 2 and "exists: restore into an empty place" in err, err
    (place / "civicbot.secret").write_text(f"{SECRET_KEY}\n")  # the key, kept apart
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 0 and "key file restored" not in out, err
    assert (place / "civicbot.secret").read_text() == f"{SECRET_KEY}\n"
    assert await tables_in(f"sqlite+aiosqlite:///{place / 'civicbot.db'}") > 0


ONE_SECOND = dt.datetime(2026, 12, 7, 1, 2, 3, tzinfo=dt.UTC)


async def two_archives_in_one_second(
    civicbot: Civicbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[Path]:
    """Two backups with the clock held at ONE_SECOND: the second takes the next second's name."""
    monkeypatch.setattr(mechanics, "_now", lambda: ONE_SECOND)
    made = []
    for _ in range(2):
        code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"))
        assert code == 0, err
        made.append(Path(out.strip()))
    assert [path.name for path in made] == [
        "civicbot-backup-20261207T010203Z.tar.gz",
        "civicbot-backup-20261207T010204Z.tar.gz",
    ]
    return made


async def test_two_archives_in_one_second_keep_both(
    civicbot: Civicbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await two_archives_in_one_second(civicbot, tmp_path, monkeypatch)
    assert all(manifest(path)["created_at"] == ONE_SECOND.isoformat() for path in made)


async def test_a_hostile_archive_writes_nothing_outside_the_place(
    civicbot: Civicbot, database_url: str, fresh_place: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Members outside the store's own names are ignored; a database or key member that is
    # not a regular file refuses the archive.
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    with_photos(tmp_path / "media", 1)
    code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"))
    assert code == 0, err
    archive = Path(out.strip())
    database_member = "database.sqlite3" if database_url.startswith("sqlite") else "database.pgdump"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not to be read")
    key = f"ffee{'1' * 60}.jpg"
    hostile = tmp_path / "hostile.tar.gz"

    def regular(name: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = 4
        return info

    def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        return info

    strays = [
        regular("../escaped"),
        regular(str(outside / "absolute")),
        regular("media/../escaped"),
        regular(f"media/../../{key}"),
        regular(f"media/ff/ee/../../../../{key}"),
        link(f"media/ff/ee/{key}", str(outside / "secret"), tarfile.SYMTYPE),
        link(f"media/ee/ee/ee{key[2:]}", database_member, tarfile.LNKTYPE),
    ]
    with tarfile.open(archive) as old, tarfile.open(hostile, "w:gz") as new:
        for info in strays:
            new.addfile(info, io.BytesIO(b"evil") if info.isfile() else None)
        for member in old.getmembers():
            new.addfile(member, old.extractfile(member))
    monkeypatch.setenv("DATABASE_URL", fresh_place)
    place = tmp_path / "restored"
    monkeypatch.setenv("MEDIA_DIR", str(place / "media"))
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(hostile))
    assert code == 0, err
    assert [p.name for p in (place / "media").glob("**/*") if p.is_file()] == [
        p.name for p in (tmp_path / "media").glob("**/*") if p.is_file()
    ]
    assert not any(p.is_symlink() for p in (place / "media").glob("**/*"))
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert not list(tmp_path.parent.glob("escaped")) and not (tmp_path / "escaped").exists()
    assert (outside / "secret").read_text() == "not to be read"

    # The database's member as a link: refused, nothing written.
    linked = tmp_path / "linked.tar.gz"
    with tarfile.open(archive) as old, tarfile.open(linked, "w:gz") as new:
        for member in old.getmembers():
            if member.name == database_member:
                new.addfile(link(database_member, str(outside / "secret"), tarfile.SYMTYPE))
            else:
                new.addfile(member, old.extractfile(member))
    other = tmp_path / "other"
    monkeypatch.setenv("MEDIA_DIR", str(other / "media"))
    url = make_url(fresh_place)
    if url.get_backend_name() == "sqlite":
        other_place = f"sqlite+aiosqlite:///{other / 'civicbot.db'}"
    else:
        other_place = url.set(database=f"{url.database}_2").render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", other_place)
    try:
        code, out, err = await asyncio.to_thread(run_cli, "restore", str(linked))
        assert code == 2 and err.count("\n") == 1, err
        assert f"no {database_member} (as a regular file)" in err
        assert not other.exists() and await tables_in(other_place) == 0
    finally:
        if url.get_backend_name() != "sqlite":
            server = url.set(database="postgres").render_as_string(hide_password=False)
            await _drop(server, f"{url.database}_2")


async def test_pg_restore_older_than_the_archive_s_pg_dump_is_one_line(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    assert (await asyncio.to_thread(run_cli, "db", "init"))[0] == 0
    code, out, err = await asyncio.to_thread(run_cli, "backup", "--to", str(tmp_path / "b"))
    assert code == 0, err
    archive = Path(out.strip())
    dumped = manifest(archive)["pg_dump_major"]
    # As if a newer pg_dump wrote it: this machine's pg_restore (as new as the server) is
    # older than that one.
    newer = tmp_path / "newer.tar.gz"
    with tarfile.open(archive) as old, tarfile.open(newer, "w:gz") as new:
        for member in old.getmembers():
            data = old.extractfile(member)
            if member.name == "manifest.json":
                content = json.dumps(manifest(archive) | {"pg_dump_major": dumped + 1}).encode()
                member.size = len(content)
                data = io.BytesIO(content)
            new.addfile(member, data)
    url = make_url(postgres_url)
    name = f"civicbot_test_restored_{uuid.uuid4().hex[:12]}"
    fresh_place = url.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", fresh_place)
    try:
        code, out, err = await asyncio.to_thread(run_cli, "restore", str(newer))
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"older than the pg_dump {dumped + 1} that wrote the archive" in err
        assert f"install postgresql-client-{dumped + 1}" in err
        assert await tables_in(fresh_place) == 0
        code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
        assert code == 0, err
    finally:
        await _drop(url.set(database="postgres").render_as_string(hide_password=False), name)


# --- the second review (issue 31, BACKUP-FIX-2) -------------------------------------------


async def rotate(database_url: str, monkeypatch: pytest.MonkeyPatch, keys: list[str]) -> None:
    """`civicbot secret rotate`: on SQLite a new key on the key file's first line; on
    PostgreSQL a new SECRET_KEY, the older ones in SECRET_KEY_PREVIOUS. `keys` newest first."""
    if not database_url.startswith("sqlite"):
        keys.insert(0, f"rotated-key-{len(keys)}-{uuid.uuid4().hex}")
        monkeypatch.setenv("SECRET_KEY", keys[0])
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", ",".join(keys[1:]))
    code, _, err = await asyncio.to_thread(run_cli, "secret", "rotate")
    assert code == 0, err


async def test_an_archive_made_before_a_key_rotation_restores_beside_the_newer_keys(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str,
    fresh_place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Rotate, back up without the key (the nightly timer's archive), rotate again: the keys
    # in place then hold the archive's key second, and its seals open with them.
    on_sqlite = database_url.startswith("sqlite")
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    if on_sqlite:
        monkeypatch.delenv("SECRET_KEY")
    assert (await civicbot(*open_initiative("ROT")))[0] == 0
    runtime = await start_bot("webhook", **({"secret_key": None} if on_sqlite else {}))
    for number, (name, digits) in enumerate(SIGNERS):
        signer = resident_of(runtime, telegram, "webhook", 8701 + number, "en")
        await sign_on_telegram(signer, "en", "ROT", name, digits, ("Chaek", "Lenin", "2"))
    keys = [SECRET_KEY]
    await rotate(database_url, monkeypatch, keys)
    code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"), "--without-secret-key")
    assert code == 0, err
    archive = Path(out.strip())
    await rotate(database_url, monkeypatch, keys)
    key_file = tmp_path / "civicbot.secret"
    held = key_file.read_text().split() if on_sqlite else keys
    assert len(held) == 3
    monkeypatch.setenv("DATABASE_URL", fresh_place)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "restored" / "media"))
    if on_sqlite:  # the newer key file, kept apart, put back first
        (tmp_path / "restored").mkdir()
        shutil.copyfile(key_file, tmp_path / "restored" / "civicbot.secret")
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 0, err
    said = manifest(archive)["secret_key"]
    assert said["fingerprint"] == mechanics.fingerprint(held[1])  # sealed with, then
    assert said["fingerprints"] == [mechanics.fingerprint(key) for key in held[1:]]
    listed = tmp_path / "rotated-list.csv"
    code, _, err = await asyncio.to_thread(
        run_cli, "export", "signatures", "--initiative", "rot", "--output", str(listed)
    )
    assert code == 0, err
    exported = listed.read_text(encoding="utf-8")
    assert all(name in exported and digits in exported for name, digits in SIGNERS)


def first_half(archive: Path, manifest_first: bool) -> Path:
    """The archive cut in the middle (a copy killed half-way); with the manifest moved first,
    as an older automatic archive has it, so that only the members after it are cut."""
    whole = archive
    if manifest_first:
        whole = archive.with_name("manifest-first.tar.gz")
        with tarfile.open(archive) as old, tarfile.open(whole, "w:gz") as new:
            members = sorted(old.getmembers(), key=lambda m: m.name != "manifest.json")
            for member in members:
                new.addfile(member, old.extractfile(member))
    data = whole.read_bytes()
    cut = archive.with_name(f"cut-{manifest_first}.tar.gz")
    cut.write_bytes(data[: len(data) // 2])
    return cut


async def test_a_truncated_archive_is_one_line_and_writes_nothing(
    civicbot: Civicbot, fresh_place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, place = await archived_then_elsewhere(civicbot, fresh_place, tmp_path, monkeypatch)
    for manifest_first, said in ((False, "is not a civicbot backup"), (True, "is damaged")):
        cut = first_half(archive, manifest_first)
        code, out, err = await asyncio.to_thread(run_cli, "restore", str(cut))
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"{cut} {said}" in err
        assert not place.exists() and await tables_in(fresh_place) == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_postgresql_that_cannot_be_reached_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://civicbot:pass-{uuid.uuid4().hex}@127.0.0.1:{port}/civicbot"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    code, out, err = await asyncio.to_thread(run_cli, "backup", "--to", str(tmp_path / "b"))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port} (" in err
    assert "pass-" not in err and "free space" not in err
    # An archive of PostgreSQL to restore there: refused in the same line, nothing written.
    archive = tmp_path / "civicbot-backup-20261207T010203Z.tar.gz"
    said = json.dumps({"format": 1, "database": "postgresql", "alembic_revision": None,
                       "secret_key": {"source": "environment", "included": False},
                       "photos": {"kind": "folder", "included": True}}).encode()  # fmt: skip
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(said)
        tar.addfile(info, io.BytesIO(said))
    code, out, err = await asyncio.to_thread(run_cli, "restore", str(archive))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port} (" in err and "pass-" not in err
    assert not (tmp_path / "media").exists()
    # Every other command run by hand: the same one line, never a traceback or the password.
    for command in (["db", "current"], ["db", "upgrade"], ["export", "wishes"], ["audit"]):
        code, out, err = await asyncio.to_thread(run_cli, *command)
        assert code == 2 and out == "" and err.count("\n") == 1, (command, err)
        assert "cannot reach the database postgresql+asyncpg://civicbot:***@127.0.0.1" in err
        assert "pass-" not in err, command


async def test_a_backup_removes_what_a_killed_one_left_and_not_what_one_writes(
    civicbot: Civicbot, tmp_path: Path
) -> None:
    # A backup killed (SIGTERM skips its cleanup) leaves a full staging folder: unlocked, or
    # killed before its lock file, old. One that another backup is writing is locked.
    folder = tmp_path / "b"
    left = {name: folder / f".civicbot-backup-{name}" for name in ("killed", "old", "busy", "new")}
    for staging in left.values():
        staging.mkdir(parents=True)
        (staging / "database.sqlite3").write_bytes(b"a full copy")
    for name in ("killed", "busy"):
        (left[name] / ".in-use").touch()
    seven_hours_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)).timestamp()
    os.utime(left["old"], (seven_hours_ago, seven_hours_ago))
    busy = os.open(left["busy"] / ".in-use", os.O_RDONLY)
    try:
        fcntl.flock(busy, fcntl.LOCK_EX)
        code, out, err = await civicbot("backup", "--to", str(folder))
    finally:
        os.close(busy)
    assert code == 0, err
    assert not left["killed"].exists() and not left["old"].exists()
    assert left["busy"].exists() and left["new"].exists()
    # The content's digest is for reusing an automatic archive, not for `civicbot backup`.
    assert "content_sha256" not in manifest(Path(out.strip()))


async def test_a_folder_without_hard_links_still_takes_archives(
    civicbot: Civicbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CIFS, some FUSE, vfat: link() is refused; the name is reserved, then replaced.
    def no_hard_links(source: Any, target: Any, **_: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted", str(source), None, str(target))

    monkeypatch.setattr(os, "link", no_hard_links)
    made = await two_archives_in_one_second(civicbot, tmp_path, monkeypatch)
    assert all(manifest(path)["format"] == 1 and mode(path) == 0o600 for path in made)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [p.name for p in made]


async def test_a_photos_folder_that_is_a_mount_point_is_restored_into(
    civicbot: Civicbot, fresh_place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mount point cannot be replaced (rmdir: busy): the photos are staged inside it and
    # moved in. The mount is a tmpfs in a namespace of the restore's own (`unshare`, from
    # util-linux), gone when it ends: the restore lists what it holds before then.
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    photos = with_photos(tmp_path / "media", 3)
    code, out, err = await civicbot("backup", "--to", str(tmp_path / "b"))
    assert code == 0, err
    archive = out.strip()
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    unshare = shutil.which("unshare")
    assert unshare, "unshare is missing: apt-get install -y util-linux"
    script = (
        'mount -t tmpfs civicbot-test "$MEDIA_DIR" && mountpoint -q "$MEDIA_DIR" && '
        '"$0" -m bot.commands.cli restore "$1" && cd "$MEDIA_DIR" && find . | sort'
    )
    env = {**os.environ, "DATABASE_URL": fresh_place, "MEDIA_DIR": str(mounted)}
    done = await asyncio.to_thread(
        subprocess.run,
        [unshare, "-rm", "sh", "-c", script, sys.executable, archive],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = [line for line in done.stdout.splitlines() if line.startswith("./")]
    expected = {f"./{p.relative_to(tmp_path / 'media').as_posix()}" for p in photos}
    assert expected <= set(listed) and not [n for n in listed if "restoring" in n]
    assert await tables_in(fresh_place) > 0


async def test_a_reused_older_automatic_archive_is_not_pruned(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite's (only its archives are reused): an archive of the same change and the same
    # data, older than three others, is the one a start that fails again returns.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'civicbot.db'}"
    shutil.copyfile(sqlite_template, tmp_path / "civicbot.db")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    newest = newest_revision()
    beside = tmp_path / "backups"
    assert (await asyncio.to_thread(run_cli, "db", "downgrade", "0018"))[0] == 0
    shutil.rmtree(beside)
    await execute(database_url, text("CREATE TABLE _alembic_tmp_wishes (id INTEGER PRIMARY KEY)"))
    done = await asyncio.to_thread(serve_in, tmp_path, database_url)
    assert done.returncode == 2, done.stderr
    [written] = beside.glob(f"civicbot-premigrate-0018-to-{newest}-*.tar.gz")
    older = written.with_name(f"civicbot-premigrate-0018-to-{newest}-20200101T000000Z.tar.gz")
    written.rename(older)
    newer = [
        beside / f"civicbot-premigrate-0001-to-0002-2025010{n}T000000Z.tar.gz" for n in (1, 2, 3)
    ]
    for path in newer:
        path.write_text("x")
    done = await asyncio.to_thread(serve_in, tmp_path, database_url)
    assert done.returncode == 2, done.stderr
    assert list(beside.glob(f"civicbot-premigrate-0018-to-{newest}-*.tar.gz")) == [older]
    assert not newer[0].exists() and newer[1].exists() and newer[2].exists()
