"""Logging for humans (text) or machines (one JSON object per line), tagged with run id and stage.

Library code logs with the standard `logging` module and passes `extra={"stage": ...}` where it
knows the stage; the run id is set once per run here, through a context variable, so every line
of a run — from any package — carries it.

`redact_secrets` keeps credentials out of the service's logs: the access log keeps query
parameter names but not the values of credential-looking ones, and the API token itself is
replaced wherever it would appear (a client that puts it in a URL gets a 401 and no log line
with it).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

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


REDACTED = "[redacted]"
CREDENTIAL_NAME = re.compile(r"token|key|secret|pass|auth|sig|cred|session|bearer|jwt|cookie", re.IGNORECASE)
ACCESS_LOGGER = "uvicorn.access"  # its records carry (client, method, target, http version, status)
SERVICE_LOGGERS = ("", "uvicorn", "uvicorn.error", ACCESS_LOGGER, "seedforge")


def redact_query(target: str) -> str:
    """A request target with the values of credential-looking query parameters replaced."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pieces = []
    for piece in query.split("&"):
        name = piece.partition("=")[0]
        pieces.append(f"{name}={REDACTED}" if CREDENTIAL_NAME.search(unquote_plus(name)) else piece)
    return f"{path}?{'&'.join(pieces)}"


class RedactSecrets(logging.Filter):
    """Rewrites records before any handler formats them (see the module docstring)."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))}
        self.secrets = sorted(forms, key=len, reverse=True)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == ACCESS_LOGGER and isinstance(args, tuple) and len(args) == 5:
            record.args = args = (*args[:2], redact_query(str(args[2])), *args[3:])
        record.msg = self.scrub(record.msg)
        if isinstance(args, tuple):
            record.args = tuple(self.scrub(a) for a in args)
        elif isinstance(args, dict):
            record.args = {k: self.scrub(v) for k, v in args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
        return True


def redact_secrets(secrets: Iterable[str], loggers: Iterable[str] = SERVICE_LOGGERS) -> RedactSecrets:
    """Put one RedactSecrets on every handler of these loggers (once configured: uvicorn sets
    its handlers up when its Config is built). Handler filters see propagated records too."""
    redactor = RedactSecrets(secrets)
    for name in loggers:
        for handler in logging.getLogger(name or None).handlers:
            handler.filters = [f for f in handler.filters if not isinstance(f, RedactSecrets)]
            handler.addFilter(redactor)
    return redactor
