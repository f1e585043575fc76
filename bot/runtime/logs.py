"""How `civicbot serve` logs: every line stamped in UTC (ISO 8601, "Z"), whatever TIMEZONE
the digests use, so that lines from several workers and the scheduler sort together; with
LOG_FORMAT=json one JSON object a line for a log collector. No line names a resident: the
handlers log reasons, never numbers, names or texts (tests/test_telegram_resilience.py)."""

from __future__ import annotations

import json
import logging
import time

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TIME = "%Y-%m-%dT%H:%M:%S"


class UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{time.strftime(TIME, time.gmtime(record.created))}.{int(record.msecs):03d}Z"


class JsonFormatter(UtcFormatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else UtcFormatter(TEXT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # httpx logs every request URL, and Bot API URLs contain the bot token; twilio's client
    # logs every request it makes.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("twilio").setLevel(logging.WARNING)
