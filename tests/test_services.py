"""What the test session provides (tests/services.py): which PostgreSQL it picks, that the
route through pgserver gives a working server with no system PostgreSQL, that it is removed
at the end, and that a test with no server or no Chromium to be had fails with the command
to run, never skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import async_playwright

from tests import services
from tests.services import (
    POSTGRES_ENV,
    PROBLEM_ENV,
    Postgres,
    Unavailable,
    chromium_command,
    find_binaries,
    launch_chromium,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_given_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POSTGRES_ENV, raising=False)
    monkeypatch.delenv(PROBLEM_ENV, raising=False)


def fake_system(root: Path, *versions: str) -> str:
    for version in versions:
        (root / version / "bin").mkdir(parents=True)
        (root / version / "bin" / "initdb").touch()
    return str(root / "*" / "bin")


def test_the_newest_system_postgresql_comes_before_pgserver(tmp_path: Path) -> None:
    pattern = fake_system(tmp_path, "9", "15", "16")
    assert find_binaries(pattern) == services.Binaries(tmp_path / "16" / "bin", "system")


def test_without_a_system_postgresql_pgserver_is_used(tmp_path: Path) -> None:
    binaries = find_binaries(str(tmp_path / "*" / "bin"))
    assert binaries.origin == "pgserver"
    assert (binaries.bin / "postgres").is_file()


def test_with_no_server_at_all_the_line_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_given_server: None
) -> None:
    monkeypatch.setattr(services, "pgserver_binaries", lambda: None)
    postgres = Postgres(str(tmp_path / "*" / "bin"))
    with pytest.raises(Unavailable) as raised:
        postgres.url()
    assert str(raised.value).startswith("no PostgreSQL server for the tests: run `")
    assert f"{sys.executable} -m pip install pgserver`" in str(raised.value)
    assert postgres.cluster is None


def test_a_given_url_is_used_and_nothing_started(
    monkeypatch: pytest.MonkeyPatch, no_given_server: None
) -> None:
    given = "postgresql+asyncpg://postgres@127.0.0.1:5/postgres"
    monkeypatch.setenv(POSTGRES_ENV, given)
    postgres = Postgres()
    assert postgres.url() == given
    assert postgres.cluster is None


async def test_pgserver_gives_a_server_on_127_0_0_1_removed_at_the_end(
    tmp_path: Path, no_given_server: None
) -> None:
    postgres = Postgres(str(tmp_path / "*" / "bin"))  # as if no system PostgreSQL
    url = postgres.url()
    cluster = postgres.cluster
    assert cluster is not None and cluster.binaries.origin == "pgserver"
    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{cluster.port}/postgres"
    try:
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/")
        try:
            assert await connection.fetchval("SHOW listen_addresses") == "127.0.0.1"
            assert await connection.fetchval("SHOW unix_socket_directories") == str(cluster.dir)
            assert await connection.fetchval("SHOW server_encoding") == "UTF8"
            await connection.execute("CREATE DATABASE civicbot_test_pgserver")
        finally:
            await connection.close()
        assert postgres.url() == url  # one server per session
    finally:
        postgres.stop()
    assert not cluster.dir.exists()
    with pytest.raises(OSError):
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/", timeout=5)


def test_a_test_without_a_server_fails_with_the_line_and_is_not_skipped() -> None:
    """As an xdist worker does when its controller could have no server."""
    line = "no PostgreSQL server for the tests: run `the command`"
    environment = {**os.environ, PROBLEM_ENV: line, "PYTHONPATH": str(ROOT)}
    environment.pop(POSTGRES_ENV, None)
    test = "tests/test_storage.py::test_reference_numbers_are_unique_digits"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", test]
    run = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 1, run.stdout
    error = "ERROR at setup of test_reference_numbers_are_unique_digits[postgresql] ____"
    assert f"{error}\n{line}\n" in run.stdout  # that line alone, no traceback
    assert "1 passed, 1 error" in run.stdout  # the SQLite variant runs all the same
    assert "skipped" not in run.stdout


async def test_with_no_chromium_the_browser_tests_fail_with_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "CHROMIUM", str(tmp_path / "chromium"))  # no Debian package
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))  # nor Playwright's own
    async with async_playwright() as playwright:
        with pytest.raises(pytest.fail.Exception) as failed:
            await launch_chromium(playwright)
    line = f"no Chromium for the browser tests: run `{chromium_command()}` ("
    assert str(failed.value).startswith(line)
    assert "\n" not in str(failed.value)
