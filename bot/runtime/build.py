"""Which build is running: `civicbot --version` and /metrics' `civicbot_build_info`."""

from __future__ import annotations

import importlib.metadata


def version() -> str:
    try:
        return importlib.metadata.version("civic-feedback-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        return "unknown"
