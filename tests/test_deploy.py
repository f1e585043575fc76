"""The files in deploy/ (docs/deploy.md), checked by the tools that run them: systemd's units
by `systemd-analyze verify` and `security`, the Caddyfile by `caddy validate` and by Caddy
itself in front of the bot, the alert rules by `promtool`; and every metric the alerts and
the dashboard name is one the bot exports (its real registry: a rename breaks this)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from bot.runtime import metrics
from bot.runtime.app import Runtime
from bot.runtime.config import Settings
from bot.web import server
from tests.conftest import StartBot
from tests.fake_telegram import FakeTelegram
from tests.resident import Resident, webhook_delivery
from tests.serve_process import free_port
from tests.test_webchat_identities import fresh_get

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
CADDYFILE = DEPLOY / "caddy" / "Caddyfile"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "civicbot.json"
ENV_EXAMPLE = DEPLOY / "civicbot.env.example"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DEPLOY_MD = ROOT / "docs" / "deploy.md"

# The contract between the units, the docs and `civicbot backup` (docs/deploy.md).
PROGRAM = "/opt/civicbot/.venv/bin/civicbot"
STATE = "/var/lib/civicbot"
SITE = "bot.example.org"
UPSTREAM = "127.0.0.1:8080"
# The routes the world must not reach through Caddy; every other route of the bot it must.
PRIVATE = {"/metrics", "/healthz"}
# Labels Prometheus gives every scraped series (a series' own `job` becomes `exported_job`).
TARGET_LABELS = {"job", "instance"}
TOOLS = {"systemd-analyze": "systemd", "caddy": "caddy", "promtool": "prometheus"}


def tool(name: str) -> str:
    """The tool's path; a missing one fails the test with the command that installs it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is missing: run `make tools` (apt-get install -y {TOOLS[name]})",
            pytrace=False,
        )
    return path


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


def directives(unit: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, in order (a key may come more than once)."""
    found, section = [], ""
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def setting(unit: Path, key: str) -> list[str]:
    return [value for _, name, value in directives(unit) if name == key]


@pytest.fixture
def units_here(tmp_path: Path) -> Path:
    """The shipped units with the program's path pointed at this machine's `civicbot` (verify
    refuses an ExecStart that does not exist); nothing else changed."""
    civicbot = Path(sys.executable).parent / "civicbot"
    assert civicbot.exists(), f"{civicbot}: the project is not installed in this virtualenv"
    for unit in UNITS.iterdir():
        text = unit.read_text()
        if unit.suffix == ".service":
            assert text.count(PROGRAM) == 1, f"{unit.name} runs {PROGRAM} once"
        (tmp_path / unit.name).write_text(text.replace(PROGRAM, str(civicbot)))
    return tmp_path


def test_systemd_verifies_the_units(units_here: Path) -> None:
    analyze = tool("systemd-analyze")
    units = sorted(str(unit) for unit in units_here.iterdir())
    assert [Path(unit).name for unit in units] == [
        "civicbot-backup.service",
        "civicbot-backup.timer",
        "civicbot.service",
    ]
    done = run(analyze, "verify", *units)
    # verify says what it ignores (a misspelt value) on stderr and still exits 0.
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    misspelt = units_here / "civicbot.service"
    misspelt.write_text(
        misspelt.read_text().replace("ProtectSystem=strict", "ProtectSystem=strikt")
    )
    assert "strikt" in run(analyze, "verify", str(misspelt)).stderr


@pytest.mark.parametrize("unit", ["civicbot.service", "civicbot-backup.service"])
def test_the_services_are_confined(units_here: Path, unit: str) -> None:
    """systemd's own exposure score, 0 (confined) to 10 (none): 1.3 for both today; a
    directive dropped or weakened pushes it past 1.5."""
    done = run(tool("systemd-analyze"), "security", "--offline=yes", "--threshold=15",
               str(units_here / unit))  # fmt: skip
    assert done.returncode == 0, done.stdout[-400:]
    shipped = UNITS / unit
    assert setting(shipped, "User") == ["civicbot"] and not setting(shipped, "DynamicUser")
    assert setting(shipped, "StateDirectory") == ["civicbot"]
    assert setting(shipped, "StateDirectoryMode") == ["0700"]
    assert setting(shipped, "WorkingDirectory") == [STATE]
    assert setting(shipped, "EnvironmentFile") == ["/etc/civicbot/civicbot.env"]
    assert setting(shipped, "UMask") == ["0077"]


def test_the_server_and_the_backup_run_what_the_contract_says() -> None:
    assert setting(UNITS / "civicbot.service", "ExecStart") == [f"{PROGRAM} serve"]
    assert setting(UNITS / "civicbot.service", "Restart") == ["on-failure"]
    assert setting(UNITS / "civicbot.service", "RestartPreventExitStatus") == ["2"]
    # The key stays out of the archives the operator copies off the server (docs/deploy.md).
    backup = f"{PROGRAM} backup --to {STATE}/backups --keep 14 --without-secret-key"
    assert setting(UNITS / "civicbot-backup.service", "ExecStart") == [backup]
    # A stuck pg_dump fails the night's run instead of holding every later one.
    assert setting(UNITS / "civicbot-backup.service", "TimeoutStartSec") == ["2h"]
    timer = UNITS / "civicbot-backup.timer"
    assert setting(timer, "Persistent") == ["true"] and len(setting(timer, "OnCalendar")) == 1


def caddy_env(home: Path) -> dict[str, str]:
    """Caddy keeps certificates and its last config under the home folder: the test's own."""
    return {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config")}  # fmt: skip


def test_caddy_validates_the_caddyfile(tmp_path: Path) -> None:
    """Validation provisions the config without asking for a certificate (no network here)."""
    done = run(tool("caddy"), "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile",
               env=caddy_env(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr[-800:]
    assert "Valid configuration" in done.stdout + done.stderr
    assert "obtain" not in done.stderr.lower()  # no certificate asked for


def test_promtool_checks_the_alert_rules() -> None:
    done = run(tool("promtool"), "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_checks_the_whole_prometheus_config(tmp_path: Path) -> None:
    """The file docs/deploy.md puts in place of Debian's stock one (whose keys it keeps, each
    once: the stock file with civicbot's lines appended fails), its rules path pointed here:
    it loads the alerts and scrapes the env file's metrics port as job civicbot."""
    rules = "/etc/prometheus/civicbot-alerts.yml"
    shipped = PROMETHEUS_CONFIG.read_text()
    config = tmp_path / "prometheus.yml"
    config.write_text(shipped.replace(rules, str(ALERTS)))
    done = run(tool("promtool"), "check", "config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout
    loaded = yaml.safe_load(shipped)
    assert loaded["rule_files"] == [rules]
    [job] = [job for job in loaded["scrape_configs"] if job["job_name"] == "civicbot"]
    settings = example_settings()
    assert job["static_configs"] == [
        {"targets": [f"{settings.metrics_host}:{settings.metrics_port}"]}
    ]
    guide = DEPLOY_MD.read_text()
    for source, target in ((PROMETHEUS_CONFIG, "/etc/prometheus/prometheus.yml"),
                           (ALERTS, rules)):  # fmt: skip
        assert f"{source.relative_to(ROOT)} {target}\n" in guide, target


def test_the_alerts_fire_on_what_operations_md_worries_about() -> None:
    """tests/alerts_test.yml: a bot that stopped answering, a job that stopped finishing
    (under its scraped label), a slow webhook, a database away; and silence on a fault-free,
    small, briefly busy one."""
    done = run(tool("promtool"), "test", "rules", str(ROOT / "tests" / "alerts_test.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def example_settings() -> Settings:
    """deploy/civicbot.env.example read as systemd reads an EnvironmentFile."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return Settings.from_env(env)


def test_the_env_file_is_what_the_units_and_caddy_expect() -> None:
    """The example, read as systemd reads an EnvironmentFile, is settings the bot accepts:
    on Caddy's upstream, believing Caddy alone, at the Caddyfile's name, state in STATE."""
    settings = example_settings()
    assert f"{settings.host}:{settings.port}" == UPSTREAM
    assert [str(network) for network in settings.trusted_proxies] == ["127.0.0.1/32"]
    assert settings.public_base_url == f"https://{SITE}"
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9464)
    assert settings.database_url == f"sqlite+aiosqlite:///{STATE}/civicbot.db"
    assert settings.media_dir == f"{STATE}/media"
    caddyfile = CADDYFILE.read_text()
    assert f"\n{SITE} {{" in caddyfile and f"reverse_proxy {UPSTREAM}\n" in caddyfile


# --- the metrics the alerts and the dashboard name ----------------------------------------

SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\[[^\]]*\])?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SERIES = re.compile(r"^(civicbot_|process_|up$)")


def exported() -> dict[str, set[str]]:
    """Every series name the bot's registry exports, with its labels (a family whose labels
    have no child yet exports nothing yet, but its names are known)."""
    series: dict[str, set[str]] = {}
    for family in metrics.REGISTRY.collect():
        collector = metrics.REGISTRY._names_to_collectors.get(family.name)
        labels = set(getattr(collector, "_labelnames", ()))
        for sample in family.samples:
            labels |= set(sample.labels)
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_count", "_sum"],
            "info": ["_info"],
        }.get(family.type, [""])
        for suffix in suffixes:
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                series.setdefault(sample.name, labels)
    return series


def expressions() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every alert rule and every dashboard target."""
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"]
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r}", target["expr"]


def unknown_names(where: str, expr: str, series: dict[str, set[str]]) -> list[str]:
    """What an expression names that the bot does not export: series, or their labels."""
    problems, labels_used = [], set()
    named = [m for m in SELECTOR.finditer(expr) if SERIES.match(m.group(1))]
    if not named:
        problems.append(f"{where}: names none of the bot's series")
    for match in named:
        name, matchers = match.group(1), match.group(2) or ""
        if name == "up":
            continue
        if name not in series:
            problems.append(f"{where}: {name} is not exported")
            continue
        own = series[name] & TARGET_LABELS  # renamed exported_… once scraped
        known = (series[name] - own) | TARGET_LABELS | {f"exported_{label}" for label in own}
        labels_used |= known
        for label in MATCHER.findall(matchers):
            if label in own or label not in known:
                problems.append(f"{where}: {name} has no label {label} once scraped")
    for grouping in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            if labels_used and label not in labels_used:
                problems.append(f"{where}: grouped by {label}, which its series do not have")
    return problems


def test_the_alerts_and_the_dashboard_name_what_the_bot_exports() -> None:
    series = exported()
    found = list(expressions())
    assert len(found) >= 33  # 17 alerts, the dashboard's targets
    problems = [problem for where, expr in found for problem in unknown_names(where, expr, series)]
    assert problems == []


def test_the_dashboard_asks_for_its_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


# --- `make tools`: only what is missing ---------------------------------------------------


def make_tools(tmp_path: Path, present: set[str]) -> list[str]:
    """`make tools` as root on a Debian machine that has only the `present` of caddy and
    promtool; apt-get and systemctl stand-ins record what it asked of them, in order."""
    path, ran = tmp_path / "bin", tmp_path / "ran"
    path.mkdir()
    ran.touch()
    commands = {"id": "echo 0", "caddy": ":", "promtool": ":"}
    for name in ("apt-get", "systemctl", "id", *present):
        stand_in = path / name
        stand_in.write_text(f"#!/bin/sh\n{commands.get(name, f'echo {name} $* >> {ran}')}\n")
        stand_in.chmod(0o755)
    (path / "env").symlink_to(shutil.which("env") or "/usr/bin/env")
    make = shutil.which("make")
    assert make is not None, "make is missing: apt-get install -y make"
    done = run(make, "-s", "-C", str(ROOT), "tools", env={"PATH": str(path)})
    assert done.returncode == 0, done.stdout + done.stderr
    return ran.read_text().splitlines()


def installed_and_stopped(packages: str) -> list[str]:
    return ["apt-get update -qq",
            f"apt-get install -y -qq --no-install-recommends {packages}",
            f"systemctl disable --now {packages}"]  # fmt: skip


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({"caddy", "promtool"}, []),
        # A Caddy in use here (or a Prometheus) is neither reinstalled nor stopped.
        ({"caddy"}, installed_and_stopped("prometheus")),
        ({"promtool"}, installed_and_stopped("caddy")),
        (set(), installed_and_stopped("caddy prometheus")),
    ],
)
def test_make_tools_installs_and_stops_only_what_was_missing(
    tmp_path: Path, present: set[str], expected: list[str]
) -> None:
    assert make_tools(tmp_path, present) == expected


# --- the nightly backup, watched -------------------------------------------------------------

BACKUP_NEWEST = "civicbot_backup_newest_timestamp_seconds"


async def backup_samples(metrics_url: str) -> list[float]:
    async with aiohttp.ClientSession() as http, http.get(metrics_url) as response:
        assert response.status == 200
        text = await response.text()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == BACKUP_NEWEST]
    return [sample.value for sample in family.samples]


async def test_metrics_show_when_the_newest_backup_was_written(
    start_bot: StartBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timer's archives go to ./backups of the bot's working directory (/var/lib/civicbot
    under systemd): /metrics shows the newest one's mtime, read at each scrape, for the
    CivicbotBackupStale alert; with no archive, no sample (never 0, which reads as 1970)."""
    monkeypatch.chdir(tmp_path)
    runtime = await start_bot("webhook", metrics_port=0)  # as the env file: METRICS_PORT
    assert runtime.metrics_url is not None
    assert await backup_samples(runtime.metrics_url) == []  # no backups folder yet

    folder = tmp_path / "backups"
    (folder / ".civicbot-backup-x1y2").mkdir(parents=True)  # an archive being written
    (folder / "civicbot-backup-notes.txt").write_text("not an archive")
    assert await backup_samples(runtime.metrics_url) == []

    # Newest by when it was written, not by its name (a copy put back, a clock set right).
    for name, mtime in (("civicbot-backup-20261205T031500Z.tar.gz", 1_796_440_000),
                        ("civicbot-backup-20261206T031500Z.tar.gz", 1_796_400_000)):  # fmt: skip
        (folder / name).write_bytes(b"")
        os.utime(folder / name, (mtime, mtime))
    assert await backup_samples(runtime.metrics_url) == [1_796_440_000]

    os.utime(folder / "civicbot-backup-20261206T031500Z.tar.gz", (1_796_500_000,) * 2)
    assert await backup_samples(runtime.metrics_url) == [1_796_500_000]  # the next scrape


# --- Caddy in front of the bot --------------------------------------------------------------


def http_variant(caddy_port: int, bot_port: int) -> str:
    """The shipped Caddyfile as plain HTTP on a loopback port, in front of the test's bot:
    the site address and the upstream replaced, nothing else; no admin endpoint."""
    shipped = CADDYFILE.read_text()
    site, proxy, options = f"\n{SITE} {{", f"reverse_proxy {UPSTREAM}\n", "\n\temail "
    assert [shipped.count(part) for part in (site, proxy, options)] == [1, 1, 1]
    served = shipped.replace(site, f"\nhttp://127.0.0.1:{caddy_port} {{")
    served = served.replace(proxy, f"reverse_proxy 127.0.0.1:{bot_port}\n")
    return served.replace(options, "\n\tadmin off\n\temail ")  # in the global options


@contextlib.asynccontextmanager
async def caddy_in_front_of(runtime: Runtime, home: Path) -> AsyncIterator[str]:
    """`caddy run` on a free loopback port before the bot; its base URL while it runs."""
    port = free_port()
    config = home / "Caddyfile"
    config.write_text(http_variant(port, runtime.port))
    process = await asyncio.create_subprocess_exec(
        tool("caddy"), "run", "--config", str(config), "--adapter", "caddyfile",
        env=caddy_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=(home / "caddy.log").open("w"),
    )  # fmt: skip
    try:
        for _ in range(400):  # until it listens: at most 20 s
            if process.returncode is not None:
                break
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("caddy did not listen within 20 s:\n" + (home / "caddy.log").read_text())
        assert process.returncode is None, (home / "caddy.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def example_path(canonical: str) -> str:
    """A path a route answers: its variable parts filled in (/m/{key} → /m/x)."""
    return re.sub(r"\{[^}]*\}", "x", canonical)


async def from_the_bot(
    http: aiohttp.ClientSession, method: str, url: str | URL
) -> tuple[int, bool]:
    """The status, and whether the bot answered (its own headers are on every answer; Caddy's
    refusal has none)."""
    async with http.request(method, url, allow_redirects=False) as response:
        await response.read()
        return response.status, response.headers.get("X-Content-Type-Options") == "nosniff"


async def test_caddy_forwards_the_public_routes_and_the_client_only(
    start_bot: StartBot, telegram: FakeTelegram, tmp_path: Path
) -> None:
    # As the env file sets it (TRUSTED_PROXIES, METRICS_PORT: here a free one).
    runtime = await start_bot("webhook", trusted_proxies=("127.0.0.1",), metrics_port=0)
    async with caddy_in_front_of(runtime, tmp_path) as caddy:
        # A Telegram webhook through Caddy reaches the bot, and the resident is answered.
        deliver = webhook_delivery(caddy, runtime.settings.webhook_secret(), telegram)
        assert await Resident(telegram, deliver, 9101, "en").send("/start")

        # Every route the bot has is forwarded, except the private ones: Caddy's 404.
        async with aiohttp.ClientSession() as http:
            routes = {(route.method, route.resource.canonical)
                      for route in server.build(runtime).router.routes()
                      if route.resource is not None and route.method != "HEAD"}  # fmt: skip
            webhooks = {"/telegram/webhook", "/sms/twilio", "/sms/twilio/status", "/sms/android"}
            assert {path for _, path in routes} >= PRIVATE | webhooks | {"/try", "/staff"}
            for method, path in sorted(routes):
                status, bot = await from_the_bot(http, method, caddy + example_path(path))
                expected = (404, False) if path in PRIVATE else (status, True)
                assert (status, bot) == expected, f"{method} {path}"
            # Nor does a path that only decodes to them, or an unknown one.
            # Prometheus on the machine reads them on the metrics port.
            assert runtime.metrics_url is not None
            async with http.get(runtime.metrics_url) as response:
                assert response.status == 200
                assert "civicbot_outbox_sends_total" in await response.text()
            for path in ("/%6detrics", "/healthz/", "/metrics?x=1", "/unknown"):
                url = URL(caddy + path, encoded=True)  # sent as written, not normalised
                assert await from_the_bot(http, "GET", url) == (404, False), path

        # The bot counts new web chat visitors by the client's address, which only Caddy's
        # X-Forwarded-For tells it: 127.0.0.5 uses up its ten (a header it writes itself
        # changes nothing: Caddy replaces it), and 127.0.0.6 behind the same Caddy still gets in.
        limit = runtime.settings.web_visitors_per_hour
        statuses = [(await fresh_get(caddy, "127.0.0.5")).status for _ in range(limit + 1)]
        assert statuses == [200] * limit + [429]
        spoofed = await fresh_get(caddy, "127.0.0.5", **{"X-Forwarded-For": "203.0.113.1"})
        assert spoofed.status == 429
        assert (await fresh_get(caddy, "127.0.0.6")).status == 200
    # Nor were 127.0.0.5's visits counted against Caddy's own address (127.0.0.1).
    assert (await fresh_get(runtime.base_url, "127.0.0.1")).status == 200
