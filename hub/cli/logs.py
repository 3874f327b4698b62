"""The hub's log on stderr, through the standard ``logging`` module.

One handler on the root logger, so the hub's own loggers (``hub.*``: a
request's line, policy reloads, migrations, incidents) and uvicorn's come out
alike. The format is ``[logging] format``: ``json`` writes one JSON object a
line (python-json-logger: time, level, logger, message and the line's fields,
e.g. a request's ``request_id``, ``status``, ``latency_ms``), for a log
collector; ``text`` one readable line; ``auto`` (the default) text when stderr
is a terminal, else JSON. The level is ``[logging] level`` or ``--log-level``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("auto", "json", "text")
TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: The record's attributes a JSON line holds (besides the fields passed as ``extra``).
JSON_FIELDS = ("asctime", "levelname", "name", "message")


def formatter(fmt: str, stream: TextIO) -> logging.Formatter:
    """The formatter for ``fmt`` (``auto``: text on a terminal, else JSON lines)."""
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    if fmt == "text":
        return logging.Formatter(TEXT)
    return JsonFormatter(list(JSON_FIELDS), rename_fields={"asctime": "time", "levelname": "level",
                                                           "name": "logger"},
                         json_ensure_ascii=False, timestamp=False)


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records of ``level`` and above to ``stream`` (stderr)."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt, stream))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_hub", False)]:
        root.removeHandler(old)
    handler._hub = True  # type: ignore[attr-defined]  # ours: replaced when configured again
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def uvicorn_options(level: str) -> dict[str, Any]:
    """uvicorn.run's: its loggers go through the root's handler (no log config of its own)."""
    return {"log_config": None, "log_level": level, "access_log": False}
