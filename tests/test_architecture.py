"""The layout holds (docs/architecture.md §2): no import circle among our modules, the
contracts in pyproject.toml ([tool.importlinter]) kept, and bot/ made only of sub-packages."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import grimp
from grimp import ImportGraph

from storage import channels

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")


def circles(graph: ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """The groups of modules that import one another round a circle (Tarjan's strongly
    connected components of more than one module, or one that imports itself)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:  # recursion depth is bounded by the module count
        index[module] = lowest[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in on_stack:
                lowest[module] = min(lowest[module], index[imported])
        if lowest[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph.find_modules_directly_imported_by(module):
                found.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_the_circle_finder_finds_a_circle_and_only_it() -> None:
    graph = ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")]:
        graph.add_import(importer=importer, imported=imported)
    assert circles(graph, graph.modules) == [["a", "b", "c"]]


def test_no_module_imports_itself_through_others() -> None:
    """Type-only imports count too: a circle through them is one refactoring away from a
    run-time one, and it hides which module is the lower."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert circles(graph, graph.modules) == []


def test_the_import_contracts_are_kept() -> None:
    """storage <- handlers <- bot, channels independent of one another, the rules free of
    chat and web libraries, nothing importing the commands (pyproject.toml). In a process of
    its own: import-linter configures logging with dictConfig, which would silence every
    logger already made in this one (and the log checks of the tests after it)."""
    lint = (
        "from importlinter.cli import lint_imports;"
        f"raise SystemExit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r},"
        " no_cache=True))"
    )
    run = subprocess.run([sys.executable, "-c", lint], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_bot_is_made_of_sub_packages_only() -> None:
    loose = sorted(p.name for p in (ROOT / "bot").glob("*.py") if p.name != "__init__.py")
    assert loose == []
    for folder in (ROOT / "bot").iterdir():
        if folder.is_dir() and folder.name != "__pycache__":
            assert (folder / "__init__.py").exists(), folder


# The package allowed to compare a person's channel with each name (storage/channels.py).
CHANNEL_HOMES = {
    channels.TELEGRAM: "bot/channels/telegram/",
    channels.SMS: "bot/channels/sms/",
    channels.WHATSAPP: "bot/channels/sms/",
    channels.WEB: "bot/channels/webchat/",
    channels.CARD: "handlers/cards.py",
}
PROVIDERS = {"twilio", "android"}  # bot/channels/sms/providers.py


def _named_in_comparisons(path: Path) -> set[str]:
    """The channel and provider names a module compares something with, as literals."""
    named = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                for part in ast.walk(side):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        named.add(part.value)
    return named & (set(CHANNEL_HOMES) | PROVIDERS)


def test_only_a_channel_s_own_package_compares_with_its_name() -> None:
    """A rule that differs by channel reads the channel's traits (storage/channels.py); a
    provider's differences are fields of the provider."""
    found = []
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            for name in sorted(_named_in_comparisons(path)):
                home = CHANNEL_HOMES.get(name, "bot/channels/sms/")
                if not where.startswith(home) and where != "storage/channels.py":
                    found.append(f"{where}: {name}")
    assert found == []


def test_the_comparison_finder_sees_a_channel_name(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('if person.channel == "telegram" or kind in ("sms", "x"):\n    pass\n')
    assert _named_in_comparisons(module) == {"telegram", "sms"}


def test_the_package_data_names_packages_and_their_files() -> None:
    """What the wheel (and so the Docker image) carries besides modules: each entry must be a
    package and each pattern must find files, or an installed bot starts without them."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for package, patterns in table["tool"]["setuptools"]["package-data"].items():
        folder = ROOT / package.replace(".", "/")
        assert (folder / "__init__.py").exists(), f"{package} is not a package"
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{package}: nothing matches {pattern}"
