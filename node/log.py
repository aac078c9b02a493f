"""Structured logs: one line per event, ``key=value`` or JSON, with levels.

Usage: ``log = get_logger("consensus"); log.info("commit", height=5, txs=120)`` writes
``ts=2026-11-26T02:53:07.123Z level=info comp=consensus event=commit height=5 txs=120``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_FORMAT = "kv"


def _fmt_value(v: Any) -> str:
    s = str(v)
    if s == "" or any(c in s for c in ' "=\n\t'):
        return json.dumps(s)
    return s


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        ts += f".{int(record.msecs):03d}Z"
        fields: dict[str, Any] = {
            "ts": ts,
            "level": record.levelname.lower(),
            "comp": record.name.removeprefix("bakong."),
            "event": record.getMessage(),
        }
        fields.update(getattr(record, "kv", {}))
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info).splitlines()[-1]
        if _FORMAT == "json":
            return json.dumps(fields, default=str)
        return " ".join(f"{k}={_fmt_value(v)}" for k, v in fields.items())


class Logger:
    """A thin key=value front to a stdlib logger."""

    __slots__ = ("_log",)

    def __init__(self, name: str) -> None:
        self._log = logging.getLogger("bakong." + name)

    def _emit(self, level: int, event: str, kv: dict[str, Any], exc: bool = False) -> None:
        if self._log.isEnabledFor(level):
            self._log.log(level, event, extra={"kv": kv}, exc_info=exc)

    def debug(self, event: str, **kv: Any) -> None:
        self._emit(logging.DEBUG, event, kv)

    def info(self, event: str, **kv: Any) -> None:
        self._emit(logging.INFO, event, kv)

    def warning(self, event: str, **kv: Any) -> None:
        self._emit(logging.WARNING, event, kv)

    def error(self, event: str, exc: bool = False, **kv: Any) -> None:
        self._emit(logging.ERROR, event, kv, exc)

    def enabled(self, level: int) -> bool:
        return self._log.isEnabledFor(level)


def get_logger(name: str) -> Logger:
    return Logger(name)


def setup_logging(level: str = "info", fmt: str = "kv", stream: Any = None) -> None:
    """Configure the ``bakong`` logger tree once per process."""
    global _FORMAT
    _FORMAT = fmt
    root = logging.getLogger("bakong")
    root.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
