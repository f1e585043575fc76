"""The files the bot creates are FILE_MODE (0600 unless the operator says otherwise) whatever
the umask: a new SQLite database, the -wal and -shm files SQLite makes beside it, and the
residents' photos in the folder store (and their folders, open to the same people)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands import cli
from bot.runtime.config import ConfigError, Settings
from tests.conftest import StartBotOn
from tests.fake_telegram import FakeTelegram
from tests.test_photos import jpeg_with_gps, placed_resident


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask of a shell, `make run` and the Docker image: files 0644 by default."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("file_mode", "files", "folders"), [(None, 0o600, 0o700), ("0640", 0o640, 0o750)]
)
async def test_a_new_database_its_wal_and_shm_and_photos_have_the_file_mode(
    start_bot_on: StartBotOn,
    telegram: FakeTelegram,
    tmp_path: Path,
    open_umask: None,
    file_mode: str | None,
    files: int,
    folders: int,
) -> None:
    database = tmp_path / "state" / "civicbot.db"
    overrides = {"file_mode": file_mode} if file_mode else {}
    runtime = await start_bot_on(f"sqlite+aiosqlite:///{database}", **overrides)
    resident = await placed_resident(runtime, telegram, 7401)
    await resident.send_photo(jpeg_with_gps())  # a photo kept in the folder store

    made = [database, database.with_name("civicbot.db-wal"), database.with_name("civicbot.db-shm")]
    assert {path.name: mode_of(path) for path in made} == {path.name: files for path in made}
    media = tmp_path / "media"
    [photo] = [path for path in media.glob("*/*/*") if path.is_file()]
    assert mode_of(photo) == files
    assert {mode_of(folder) for folder in (media, photo.parent, photo.parent.parent)} == {folders}


def test_file_mode_is_octal_and_keeps_the_files_the_bots_own() -> None:
    assert Settings.from_env({"FILE_MODE": "640"}).file_permissions() == 0o640
    assert Settings.from_env({}).file_permissions() == 0o600
    for wrong in ("0400", "0700", "0644x", "rw-------", "0601", "0644", "0666", "0604"):
        with pytest.raises(ConfigError, match=r"^FILE_MODE: .*0600, 0640"):
            Settings.from_env({"FILE_MODE": wrong})


@pytest.mark.parametrize("action", [["current"], ["upgrade"], ["history"]])
def test_the_db_commands_make_a_new_database_file_mode_too(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch, action: list[str]
) -> None:
    database = tmp_path / "civicbot.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["db", *action]) == 0
    assert mode_of(database) == 0o600
