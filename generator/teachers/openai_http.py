"""The OpenAI-compatible wire for generator/teachers/openai.py: request bodies, response parsing,
which failures are worth re-sending, backoff, the per-server slots, and the readiness checks.

Nothing here holds teacher state beyond one batch's slot bookkeeping; the teacher decides when to
call what.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from generator.teachers.base import ChatRequest, Completion, TeacherUnavailable, normalize_finish_reason

PROBE_MESSAGES = [{"role": "user", "content": "Say OK."}]


class Retryable(Exception):
    """Worth re-sending (connect error, timeout, 429, 5xx)."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class Endpoint:
    url: str
    in_flight: int = 0
    failures: int = 0  # consecutive; a success resets it, so a dead server stops being preferred
    sent: int = 0


def http_client(api_key_env: str | None, connections: int, timeout: float) -> httpx.AsyncClient:
    """One client for the teacher's life (a warm connection pool); the key is read from the
    environment variable named in the config, never from the config itself."""
    headers = {}
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise TeacherUnavailable(f"environment variable {api_key_env} (teacher.api_key_env) is unset")
        headers["Authorization"] = f"Bearer {key}"
    return httpx.AsyncClient(
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error or body.get("message")
        if message:
            return str(message)[:500]
    return str(body)[:300]


def backoff_seconds(
    attempt: int, retry_after: float | None, backoff: float, backoff_max: float, rng: random.Random
) -> float:
    """Seconds before re-send number `attempt + 1`: the server's Retry-After if it gave one,
    else exponential backoff with "equal jitter" (half fixed, half random), capped."""
    if retry_after is not None:
        return min(retry_after, backoff_max)
    ceiling = min(backoff_max, backoff * 2**attempt)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def chat_body(request: ChatRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": list(request.messages),
        "temperature": request.sampling.temperature,
        "top_p": request.sampling.top_p,
        "max_tokens": request.sampling.max_tokens,
    }
    # vLLM's server takes top_k / min_p beside the OpenAI parameters; sent only when used, so a
    # strict OpenAI-compatible server never sees them unless the config asks for them.
    if request.sampling.top_k:
        body["top_k"] = request.sampling.top_k
    if request.sampling.min_p:
        body["min_p"] = request.sampling.min_p
    if request.seed is not None:
        body["seed"] = request.seed
    if request.json_schema is not None:
        name = str(request.json_schema.get("title") or "output")
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": request.json_schema, "strict": True},
        }
    elif request.choices is not None:
        body["structured_outputs"] = {"choice": list(request.choices)}  # vLLM's guided choice
    return body


def chat_completion(data: Any, url: str) -> Completion:
    """A /chat/completions answer as a Completion; a malformed one fails this request only."""
    try:
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=normalize_finish_reason(choice.get("finish_reason")),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return Completion.failed(f"malformed response from {url}: {type(exc).__name__}: {exc}")


class EndpointPool:
    """At most `concurrency` requests in flight per server, each sent to the least busy healthy one."""

    def __init__(self, endpoints: list[Endpoint], concurrency: int):
        self.endpoints = endpoints
        self.concurrency = concurrency
        self._slots = asyncio.Condition()  # made inside the teacher's loop, used only there

    async def acquire(self, avoid: Endpoint | None) -> Endpoint:
        limit = self.concurrency
        async with self._slots:
            await self._slots.wait_for(lambda: any(e.in_flight < limit for e in self.endpoints))
            free = [e for e in self.endpoints if e.in_flight < limit]
            if avoid is not None and len(free) > 1 and avoid in free:
                free.remove(avoid)  # after a failure, try another server first
            chosen = min(free, key=lambda e: (e.failures, e.in_flight, e.sent))
            chosen.in_flight += 1
            chosen.sent += 1
            return chosen

    async def release(self, endpoint: Endpoint) -> None:
        async with self._slots:
            endpoint.in_flight -= 1
            self._slots.notify_all()


# --- readiness ---------------------------------------------------------------------------------


async def served_model(client: httpx.AsyncClient, endpoint: Endpoint, wanted: str) -> dict[str, Any]:
    """The model card `wanted` names on this server ("auto": its only model)."""
    response = await client.get(f"{endpoint.url}/models")
    if response.status_code == 404 and wanted != "auto":
        return {"id": wanted}  # a server without /models: trust the configured name
    if response.status_code != 200:
        raise Retryable(f"http_{response.status_code}", f"GET /models: HTTP {response.status_code}")
    cards = [c for c in response.json().get("data", []) if isinstance(c, dict) and c.get("id")]
    if wanted == "auto":
        if len(cards) != 1:
            raise TeacherUnavailable(f"{endpoint.url} serves {len(cards)} models; set teacher.model to one")
        return cards[0]
    card = next((c for c in cards if c["id"] == wanted), None)
    if card is None:
        served = ", ".join(c["id"] for c in cards) or "nothing"
        raise TeacherUnavailable(f"{endpoint.url} does not serve model {wanted!r} (it serves: {served})")
    return card


async def probe(client: httpx.AsyncClient, endpoint: Endpoint, model: str, timeout: float) -> None:
    """A one-token completion: does this server answer at all?"""
    body = {"model": model, "messages": PROBE_MESSAGES, "max_tokens": 1, "temperature": 0}
    try:
        response = await asyncio.wait_for(
            client.post(f"{endpoint.url}/chat/completions", json=body), min(timeout, 60.0)
        )
    except (asyncio.TimeoutError, httpx.TransportError) as exc:
        raise Retryable("connect", f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    if response.status_code != 200:
        raise Retryable(f"http_{response.status_code}", f"HTTP {response.status_code}: {error_detail(response)}")


async def check_ready(
    client: httpx.AsyncClient, endpoints: list[Endpoint], wanted: str, timeout: float
) -> tuple[dict[str, Any], dict[str, str]]:
    """The served model card and each URL's status ("ready" or the problem). Raises
    TeacherUnavailable when no server completes a probe, or the model is misconfigured."""

    async def check(endpoint: Endpoint) -> dict[str, Any]:
        try:
            card = await served_model(client, endpoint, wanted)
        except (httpx.TransportError, ValueError) as exc:
            raise Retryable("connect", f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        await probe(client, endpoint, card["id"], timeout)
        return card

    results = await asyncio.gather(*(check(e) for e in endpoints), return_exceptions=True)
    status: dict[str, str] = {}
    cards = []
    for endpoint, result in zip(endpoints, results, strict=True):
        if isinstance(result, TeacherUnavailable):
            raise result  # a wrong model name is a configuration error, not an outage
        if isinstance(result, BaseException):
            status[endpoint.url] = str(result)
            endpoint.failures += 1
        else:
            status[endpoint.url] = "ready"
            cards.append(result)
    if not cards:
        raise TeacherUnavailable("no teacher server is ready: " + "; ".join(f"{u}: {s}" for u, s in status.items()))
    return cards[0], status
