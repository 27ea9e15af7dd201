"""The API's guards, as plain ASGI middleware so that they run before any route reads a byte.

- `BearerAuth`: every path but the public ones needs `Authorization: Bearer <token>`, compared
  in constant time; unknown paths too, so the route list is not probeable without the token.
- `BodyLimit`: the request body is counted while it streams in; past the limit the upload is
  abandoned and the answer is 413, so no body is ever buffered beyond the limit (a declared
  Content-Length over it is refused before reading anything).
- `contained_file`: a download path is resolved (symlinks followed) and must stay in its root.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _json_response(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


PUBLIC_PATHS = frozenset({"/healthz", "/livez"})  # probes: orchestrators hold no token


class BearerAuth:
    def __init__(self, app: ASGIApp, token: str | None, public: frozenset[str] = PUBLIC_PATHS):
        self.app = app
        self.token = token.encode() if token is not None else None  # None: --insecure-no-auth
        self.public = public

    def authorized(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        scheme, _, given = (_header(scope, b"authorization") or b"").partition(b" ")
        # compare_digest on bytes: time does not depend on where the first difference is.
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public or self.authorized(scope):
            await self.app(scope, receive, send)
            return
        await _json_response(send, 401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body larger than {self.max_bytes} bytes"
        # Connection: close makes the server hang up instead of reading (and discarding) the rest.
        close = {"Connection": "close"}
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _json_response(send, 400, "invalid Content-Length")
                return
            if size > self.max_bytes:
                await _json_response(send, 413, too_large, close)
                return
        received = 0
        exceeded = False
        answered = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge  # stops the form parser mid-stream
            return message

        async def reply(message: Message) -> None:
            nonlocal answered
            if not exceeded:
                answered = answered or message["type"] == "http.response.start"
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                # The framework turned the aborted parse into some error; the truth is 413.
                answered = True
                await _json_response(send, 413, too_large, close)

        try:
            await self.app(scope, counted, reply)
        except _TooLarge:
            if not answered:
                await _json_response(send, 413, too_large, close)


def contained_file(root: Path, relative: str) -> Path:
    """`root/relative` with every symlink resolved; it must be a regular file inside `root`.

    Run directories legitimately hold internal links (train.jsonl -> current/train.jsonl ->
    .versions/00002/train.jsonl); what matters is where the chain ends. Raises
    FileNotFoundError (nothing there) or PermissionError (it leads out of `root`, or loops).
    """
    base = root.resolve(strict=True)
    try:
        target = (root / relative).resolve(strict=True)
    except RuntimeError:  # a symlink loop
        raise PermissionError(relative) from None
    if not target.is_relative_to(base) or not target.is_file():
        raise PermissionError(relative)
    return target
