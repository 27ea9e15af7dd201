"""Logging for humans (text) or machines (one JSON object per line), tagged with run id and stage.

Library code logs with the standard `logging` module and passes `extra={"stage": ...}` where it
knows the stage; the run id is set once per run here, through a context variable, so every line
of a run — from any package — carries it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone

_RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("seedforge_run_id", default=None)
_STAGE: contextvars.ContextVar[str | None] = contextvars.ContextVar("seedforge_stage", default=None)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "run_id", None) is None:
            record.run_id = _RUN_ID.get()
        if getattr(record, "stage", None) is None:
            record.stage = _STAGE.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and v is not None})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        tags = " ".join(f"{k}={v}" for k in ("run_id", "stage") if (v := getattr(record, k, None)))
        line = f"{record.levelname.lower():<7} {record.name}: {record.getMessage()}"
        return f"{line} [{tags}]" if tags else line


LOG_FORMATS = ("text", "json")  # json: one object per line
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_Context())
    root = logging.getLogger("seedforge")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


@contextlib.contextmanager
def log_context(run_id: str | None = None, stage: str | None = None) -> Iterator[None]:
    tokens = []
    if run_id is not None:
        tokens.append((_RUN_ID, _RUN_ID.set(run_id)))
    if stage is not None:
        tokens.append((_STAGE, _STAGE.set(stage)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
