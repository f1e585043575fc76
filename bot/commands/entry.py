"""The `civicbot` program's entry point: `civicbot --version` is answered here, before the
command line's modules (settings, SQLAlchemy, every command) are imported — a tenth of the
time (docs/operations.md, "Footprint"); everything else is bot/commands/cli.py's."""

from __future__ import annotations

import sys

from bot.runtime.build import version


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        print(f"civicbot {version()}")
        return 0
    # Imported here, not above: this module's point is to answer --version without it.
    from bot.commands import cli

    return cli.main()
