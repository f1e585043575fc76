"""How `civicbot serve` logs: one stream, standard error, for the log lines and the hints of
the start ("Open http://…/try"); every line stamped in UTC (ISO 8601, "Z"), whatever TIMEZONE
the digests use, so that lines from several workers and the scheduler sort together; with
LOG_FORMAT=json one JSON object a line for a log collector, carrying the structured fields of
handlers/log_fields.py (event, channel, outcome, duration_ms, job) where a line has them.

Quiet at INFO: an idle server says nothing. The libraries' routine (APScheduler's every job
run, HTTP clients' every request) is below WARNING and not shown. No line names a resident:
the handlers log reasons, never numbers, names or texts (tests/test_logs.py)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from handlers.log_fields import FIELDS, HINT

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TIME = "%Y-%m-%dT%H:%M:%S"
# Libraries whose INFO lines are routine, not news: shown from WARNING. httpx logs every
# request URL, and Bot API URLs contain the bot token.
ROUTINE = ("apscheduler", "aiohttp.access", "httpx", "httpcore", "telegram")


class UtcFormatter(logging.Formatter):
    """The text lines; a hint of the start is its sentence alone, as a terminal shows it."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{time.strftime(TIME, time.gmtime(record.created))}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "event", None) == HINT:
            return message(record)
        record.message = message(record)
        record.msg, record.args = record.message, None  # formatted once, safely
        return super().format(record)


def message(record: logging.LogRecord) -> str:
    """The line's sentence; a call whose arguments do not fit its format is logged as its
    format alone. Otherwise logging's own error handler would print the arguments (a number a
    resident wrote, say) to standard error, and not as JSON."""
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        return f"{record.msg} (its arguments did not fit; left out)"


class JsonFormatter(UtcFormatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": message(record),
        }
        entry |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str) -> None:
    handler = logging.StreamHandler()  # standard error
    handler.setFormatter(JsonFormatter() if log_format == "json" else UtcFormatter(TEXT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # A line that cannot be written (a closed stream) is not worth logging's traceback, which
    # names the call's arguments.
    logging.raiseExceptions = False
    # Nothing a line shows, so not gathered for each line (one per message): the thread and
    # the process (the Logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    quiet_routine()


def quiet_routine() -> None:
    """The libraries' routine lines below what is shown (their warnings and errors stay)."""
    for name in ROUTINE:
        logging.getLogger(name).setLevel(logging.WARNING)
