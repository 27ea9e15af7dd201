"""Credentials out of the service's logs.

The access log keeps query parameter names but not the values of credential-looking ones, and the
API token itself is replaced wherever it would appear (a client that puts it in a URL gets a 401
and no log line with it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

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
