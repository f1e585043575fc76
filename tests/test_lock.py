"""The lock files cover pyproject.toml: every dependency it names is pinned, with hashes, at a
version its range allows, in each lock that installs it (`make lock` after a change)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "civic-feedback-bot"
# Each lock and the extras it holds beside the runtime dependencies.
LOCKS = {
    "requirements.lock": (),
    "requirements-s3.lock": ("s3",),
    "requirements-dev.lock": ("dev",),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock_text: str) -> dict[str, list[Version]]:
    """The locked versions by normalised name (a universal lock may pin two, each for its
    Pythons); a pin without a hash fails here."""
    found: dict[str, list[Version]] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock_text)
    for entry in entries:
        match = PIN.match(entry)
        if match is None:
            continue
        name = canonicalize_name(match.group(1))
        assert "--hash=sha256:" in entry, f"{name} is locked without a hash"
        found.setdefault(name, []).append(Version(match.group(2)))
    return found


def named(extras: tuple[str, ...]) -> list[Requirement]:
    """pyproject.toml's requirements for the runtime and these extras, the project's own
    extras (dev names civic-feedback-bot[s3]) followed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    wanted, seen = list(extras), set()
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == PROJECT:
                wanted.extend(requirement.extras)
            else:
                requirements.append(requirement)
    return requirements


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_pins_every_dependency_pyproject_names(lock: str) -> None:
    locked = pins((ROOT / lock).read_text())
    for requirement in named(LOCKS[lock]):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {lock}: run `make lock`"
        for version in locked[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} has {name} {version}, outside {requirement.specifier}: run `make lock`"
            )


def test_the_build_lock_pins_what_builds_the_project() -> None:
    """`--no-build-isolation` installs build the project with what requirements-build.lock
    installed: it pins every [build-system] requirement, in range, with its hashes."""
    locked = pins((ROOT / "requirements-build.lock").read_text())
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for requirement in map(Requirement, build):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements-build.lock: run `make lock`"
        assert all(requirement.specifier.contains(version) for version in locked[name])


def test_a_dependency_missing_from_the_lock_is_found() -> None:
    """The check itself: a lock without one of the dependencies, or with one out of range."""
    text = (ROOT / "requirements.lock").read_text()
    locked = pins(text)
    assert canonicalize_name("aiohttp") in locked and len(locked) > 20
    without = re.sub(r"\naiohttp==.*?(?=\n[A-Za-z0-9])", "", text, flags=re.S)
    assert canonicalize_name("aiohttp") not in pins(without)
    assert not Requirement("aiohttp<1").specifier.contains(locked["aiohttp"][0])
    # Two pins of one name: each is read.
    twice = text + "aiohttp==0.1 ; python_version >= '4'\n    --hash=sha256:00\n"
    assert len(pins(twice)["aiohttp"]) == 2
