"""The installed version, from the package's metadata (no import of the app)."""

from __future__ import annotations

import importlib.metadata


def version() -> str:
    try:
        return importlib.metadata.version("civic-feedback-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        return "unknown"
