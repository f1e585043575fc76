"""The structured fields of a log line, given to logging as `extra=` (a JSON log line carries
them as keys: bot/runtime/logs.py), so that a collector counts and filters without reading
sentences. What they may hold is fixed here: names of things and measures, never a number,
a chat id or anything a resident wrote."""

from __future__ import annotations

import time
from typing import Any

FIELDS = ("event", "channel", "outcome", "duration_ms", "job")
HINT = "hint"  # a line of the start that tells the operator what to do (bare on a terminal)


def fields(
    event: str,
    *,
    channel: str | None = None,
    outcome: str | None = None,
    started: float | None = None,
    job: str | None = None,
) -> dict[str, Any]:
    """`extra=` for a log call: the event, and those of the rest that apply. `started` is a
    time.perf_counter() reading: the line says how long since then (duration_ms)."""
    given = {
        "event": event,
        "channel": channel,
        "outcome": outcome,
        "duration_ms": None if started is None else since(started),
        "job": job,
    }
    return {name: value for name, value in given.items() if value is not None}


def since(started: float) -> float:
    """Milliseconds since a time.perf_counter() reading, to a tenth."""
    return round((time.perf_counter() - started) * 1000, 1)
