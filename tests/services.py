"""What the tests need besides Python, provided by the test session itself (a pytest plugin,
loaded by tests/conftest.py): a PostgreSQL server and a headless Chromium.

PostgreSQL: `CIVICBOT_TEST_POSTGRES_URL` when set; otherwise a throwaway cluster started once
per session when a test first needs it, from the system's binaries
(/usr/lib/postgresql/*/bin) or else pgserver's (a dev dependency), listening only on
127.0.0.1 at a free port and on a socket in its own temporary directory, stopped and removed
at the end. Under pytest-xdist the controller starts it before the workers and hands them the
URL through the environment: one server per session. A test that cannot have one fails with
the one line that says what to run; none is skipped.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from sqlalchemy.engine import make_url

from tests.serve_process import free_port

POSTGRES_ENV = "CIVICBOT_TEST_POSTGRES_URL"
# The controller's reason for having no server, so that xdist workers fail with it too.
PROBLEM_ENV = "CIVICBOT_TEST_POSTGRES_PROBLEM"
SYSTEM_BINARIES = "/usr/lib/postgresql/*/bin"
OR_GIVE_ONE = f"(or set {POSTGRES_ENV} to a server the tests may create databases on)"
CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make test` installs it when apt can
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Unavailable(Exception):
    """No PostgreSQL server can be had; the message is the one line the tests fail with."""


@dataclass(frozen=True)
class Binaries:
    bin: Path
    origin: str  # "system" or "pgserver"


def system_binaries(pattern: str = SYSTEM_BINARIES) -> Path | None:
    """The newest major version's bin directory of the system's PostgreSQL, if installed."""
    found = [Path(path) for path in glob.glob(pattern) if (Path(path) / "initdb").is_file()]
    return max(found, key=lambda path: _major(path.parent.name), default=None)


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def pgserver_binaries() -> Path | None:
    """The binaries inside the pgserver wheel, if installed (found without importing it)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    found = Path(spec.origin).parent / "pginstall" / "bin"
    return found if (found / "initdb").is_file() else None


def find_binaries(system_pattern: str = SYSTEM_BINARIES) -> Binaries:
    if found := system_binaries(system_pattern):
        return Binaries(found, "system")
    if found := pgserver_binaries():
        return Binaries(found, "pgserver")
    raise Unavailable(
        f"no PostgreSQL server for the tests: run `{sys.executable} -m pip install pgserver`"
        f" {OR_GIVE_ONE}"
    )


def server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, the system package's `postgres` user, or
    `nobody` where there is none (creating a user would clash with a later apt install)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise Unavailable("no PostgreSQL server for the tests: run them as a user other than root")


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory: trust authentication, no
    fsync, reachable on 127.0.0.1 at a free port and on a socket in that directory only."""

    def __init__(self, binaries: Binaries, user: str | None) -> None:
        self.binaries = binaries
        self.user = user
        self.dir = Path(tempfile.mkdtemp(prefix="civicbot-pg-"))
        self.bindir = binaries.bin
        self.port = 0
        self.seconds = 0.0

    def start(self) -> str:
        began = time.monotonic()
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.bindir = bindir = self._reachable_bin()
        data = self.dir / "data"
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        done = self._run([*initdb, "-E", "UTF8", "--no-sync"])
        if done.returncode != 0:
            reason = _last_line(done.stderr)
            raise Unavailable(f"the tests' PostgreSQL: initdb failed: {reason} {OR_GIVE_ONE}")
        for _ in range(3):  # another process may take the free port before the server does
            self.port = free_port()
            options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F"
            pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log")]
            if self._run([*pg_ctl, "-w", "-t", "60", "-o", options, "start"]).returncode == 0:
                self.seconds = time.monotonic() - began
                return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        log = (self.dir / "log").read_text(errors="replace") if (self.dir / "log").exists() else ""
        raise Unavailable(f"the tests' PostgreSQL did not start: {_last_line(log)} {OR_GIVE_ONE}")

    def stop(self) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            stop = [str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate"]
            self._run([*stop, "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)

    def _reachable_bin(self) -> Path:
        """The binaries, copied into the cluster's directory when the server's user cannot
        reach them (pgserver in a virtualenv under root's home, which is 0700)."""
        bindir = self.binaries.bin
        if not self.user or self._run([str(bindir / "initdb"), "--version"]).returncode == 0:
            return bindir
        # The wheel's layout: site-packages/pgserver/pginstall/bin, whose RPATH points at
        # site-packages/pgserver.libs.
        package = bindir.parent.parent
        copy = self.dir / "site" / package.name
        shutil.copytree(bindir.parent, copy / bindir.parent.name, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
        return copy / bindir.parent.name / "bin"

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        # Output to files, not pipes: the server started by pg_ctl would keep a pipe open.
        with tempfile.TemporaryFile("w+") as errors:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                text=True,
                check=False,
                cwd=self.dir,
            )
            errors.seek(0)
            return subprocess.CompletedProcess(command, done.returncode, "", errors.read())


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


class Postgres:
    """The session's PostgreSQL: given, started on first use, or the reason there is none."""

    def __init__(self, system_pattern: str = SYSTEM_BINARIES) -> None:
        self.system_pattern = system_pattern
        self.cluster: Cluster | None = None
        self._url: str | None = None
        self._problem: str | None = None

    def url(self) -> str:
        """The server's URL, starting it if need be; raises Unavailable with the line."""
        if self._url is None and self._problem is None:
            self._url = os.environ.get(POSTGRES_ENV, "").strip() or None
            self._problem = os.environ.get(PROBLEM_ENV) or None
            if self._url is None and self._problem is None:
                try:
                    self._url = self._start()
                except Unavailable as problem:
                    self._problem = str(problem)
        if self._url is None:
            raise Unavailable(self._problem)
        return self._url

    def _start(self) -> str:
        self.cluster = Cluster(find_binaries(self.system_pattern), server_user())
        try:
            return self.cluster.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None

    def describe(self) -> str:
        """For the report header: the server, or the one that a test would start."""
        if given := self._url or os.environ.get(POSTGRES_ENV, "").strip():
            return make_url(given).render_as_string()
        if problem := os.environ.get(PROBLEM_ENV):
            return problem
        try:
            binaries = find_binaries(self.system_pattern)
        except Unavailable as problem:
            return str(problem)
        return f"{binaries.origin}'s server in {binaries.bin}, started when first needed"


_POSTGRES = pytest.StashKey[Postgres]()


def _is_xdist_controller(config: pytest.Config) -> bool:
    distributing = getattr(config.option, "dist", "no") != "no"
    return distributing and not config.option.collectonly and not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    postgres = Postgres()
    config.stash[_POSTGRES] = postgres
    config.add_cleanup(postgres.stop)
    if _is_xdist_controller(config) and not os.environ.get(POSTGRES_ENV, "").strip():
        # Before the workers start, so that they inherit the URL (or the reason) and no
        # worker starts a server of its own.
        try:
            _environ(config, POSTGRES_ENV, postgres.url())
        except Unavailable as problem:
            _environ(config, PROBLEM_ENV, str(problem))


def _environ(config: pytest.Config, name: str, value: str) -> None:
    os.environ[name] = value
    config.add_cleanup(lambda: _forget(name))


def _forget(name: str) -> None:
    os.environ.pop(name, None)


def pytest_report_header(config: pytest.Config) -> str:
    return f"databases: SQLite and PostgreSQL ({config.stash[_POSTGRES].describe()})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    cluster = terminalreporter.config.stash[_POSTGRES].cluster
    if cluster is not None:
        terminalreporter.write_line(
            f"PostgreSQL: {cluster.binaries.origin}'s server on 127.0.0.1:{cluster.port},"
            f" started in {cluster.seconds:.2f} s"
        )


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> str:
    """The URL of a PostgreSQL server the tests may create databases on."""
    try:
        return pytestconfig.stash[_POSTGRES].url()
    except Unavailable as problem:
        line = str(problem)
    pytest.fail(line, pytrace=False)  # outside the except: one line, no chained traceback


def chromium_command() -> str:
    """The one command that gives this machine a Chromium for the browser tests."""
    if shutil.which("apt-get"):
        return "apt-get install chromium" if os.geteuid() == 0 else "sudo apt-get install chromium"
    return f"{sys.executable} -m playwright install chromium"


def debian_chromium() -> bool:
    return Path(CHROMIUM).exists()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium driven by Playwright."""
    async with async_playwright() as playwright:
        launched = await launch_chromium(playwright)
        yield launched
        await launched.close()


async def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless; where it is absent, Playwright's own if it was installed."""
    if debian_chromium():
        return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        return await playwright.chromium.launch(args=CHROMIUM_ARGS)
    except PlaywrightError as error:
        pytest.fail(
            f"no Chromium for the browser tests: run `{chromium_command()}`"
            f" ({error.message.splitlines()[0] if error.message else 'no message'})",
            pytrace=False,
        )
