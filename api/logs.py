"""Logging setup: human-readable text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from hydroserve.codecs.times import rfc3339


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": rfc3339(datetime.fromtimestamp(record.created, UTC), "milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(level: str = "INFO", log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic tells at INFO which implementation and DDL mode it uses on every run; `db upgrade` prints what it did.
    logging.getLogger("alembic.runtime.migration").setLevel(max(logging.WARNING, root.level))
