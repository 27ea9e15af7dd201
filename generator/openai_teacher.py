"""Teacher over HTTP: an OpenAI-compatible chat server, chiefly `vllm serve` (one or several).

The gateway hands over whole batches; this teacher sends every request of a batch concurrently
(at most `concurrency` in flight per base URL, each to the least busy healthy server) and hands
each completion back the moment it arrives, so the run journal keeps it even if the run is
killed a second later.

Failures are sorted by who can fix them:
- retryable (connect errors, timeouts, 429, 5xx): re-sent with exponential backoff and jitter, a
  429's Retry-After honoured, preferring another server;
- the request itself (400 such as "context length exceeded", 422): a per-request
  `Completion.failed`, never re-sent here (the gateway decides, with a new seed);
- retries exhausted: per-request `Completion.failed` if some server still completes a tiny probe
  request, else `TeacherUnavailable` — the run stops and resumes later from its journal.

Guided decoding uses the server's structured-output parameters: JSON schemas go in the standard
`response_format` (json_schema), label sets in vLLM's `structured_outputs: {"choice": [...]}`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from generator.config import TeacherConfig
from generator.openai_scoring import Rejected, RemoteScorer, server_root
from generator.teacher import ChatRequest, Completion, TeacherUnavailable, normalize_finish_reason

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
PROBE_MESSAGES = [{"role": "user", "content": "Say OK."}]


class _Retryable(Exception):
    """Worth re-sending (connect error, timeout, 429, 5xx)."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class _Endpoint:
    url: str
    in_flight: int = 0
    failures: int = 0  # consecutive; a success resets it, so a dead server stops being preferred
    sent: int = 0


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


def _error_detail(response: httpx.Response) -> str:
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


class OpenAITeacher:
    """`Teacher` (streaming) over one or more OpenAI-compatible `/v1` base URLs."""

    def __init__(self, config: TeacherConfig, *, sleep: Sleep | None = None, rng: random.Random | None = None):
        if not config.base_urls:
            raise ValueError("the openai teacher needs teacher.base_urls")
        self.config = config
        self._sleep: Sleep = sleep or asyncio.sleep  # injectable: tests record waits instead of sleeping
        self._rng = rng or random.Random()
        self._endpoints = [_Endpoint(url) for url in config.base_urls]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Condition | None = None
        self._probe: asyncio.Task[bool] | None = None
        self._server: dict[str, Any] | None = None
        self.startup_seconds = 0.0
        self.http_attempts = 0
        self.waits: list[tuple[str, float]] = []  # (why, seconds) of every backoff
        self._scorer = RemoteScorer()

    # -- identity -------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.config.model if self.config.model != "auto" else str(self.ready()["model"])

    @property
    def revision(self) -> str:
        return self.config.revision or str(self.ready()["revision"])

    @property
    def endpoint(self) -> str:
        return ",".join(sorted(self.config.base_urls))

    # -- event loop plumbing ---------------------------------------------------------------------
    # A private loop driven from the caller's thread: the Teacher protocol is synchronous, and
    # keeping one loop for the teacher's life keeps the connection pool warm between batches.

    def _run(self, coro: Awaitable[Any]) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {}
            if self.config.api_key_env:
                key = os.environ.get(self.config.api_key_env)
                if not key:
                    raise TeacherUnavailable(
                        f"environment variable {self.config.api_key_env} (teacher.api_key_env) is unset"
                    )
                headers["Authorization"] = f"Bearer {key}"
            total = self.config.concurrency * len(self._endpoints)
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.config.timeout, connect=min(self.config.timeout, 10.0)),
                limits=httpx.Limits(max_connections=total, max_keepalive_connections=total),
            )
        return self._client

    # -- readiness ------------------------------------------------------------------------------

    def ready(self) -> dict[str, Any]:
        """Model, revision and per-URL status, from a tiny real completion on every base URL.

        Raises TeacherUnavailable when no server completes it. Run once, on first use.
        """
        if self._server is None:
            started = time.perf_counter()
            self._server = self._run(self._check_ready())
            self.startup_seconds = time.perf_counter() - started
        return self._server

    async def _served_model(self, endpoint: _Endpoint) -> dict[str, Any]:
        response = await self._http().get(f"{endpoint.url}/models")
        if response.status_code == 404 and self.config.model != "auto":
            return {"id": self.config.model}  # a server without /models: trust the configured name
        if response.status_code != 200:
            raise _Retryable(f"http_{response.status_code}", f"GET /models: HTTP {response.status_code}")
        cards = [c for c in response.json().get("data", []) if isinstance(c, dict) and c.get("id")]
        wanted = self.config.model
        if wanted == "auto":
            if len(cards) != 1:
                raise TeacherUnavailable(f"{endpoint.url} serves {len(cards)} models; set teacher.model to one")
            return cards[0]
        card = next((c for c in cards if c["id"] == wanted), None)
        if card is None:
            served = ", ".join(c["id"] for c in cards) or "nothing"
            raise TeacherUnavailable(f"{endpoint.url} does not serve model {wanted!r} (it serves: {served})")
        return card

    async def _probe_one(self, endpoint: _Endpoint, model: str) -> None:
        body = {"model": model, "messages": PROBE_MESSAGES, "max_tokens": 1, "temperature": 0}
        try:
            response = await asyncio.wait_for(
                self._http().post(f"{endpoint.url}/chat/completions", json=body), min(self.config.timeout, 60.0)
            )
        except (asyncio.TimeoutError, httpx.TransportError) as exc:
            raise _Retryable("connect", f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        if response.status_code != 200:
            raise _Retryable(f"http_{response.status_code}", f"HTTP {response.status_code}: {_error_detail(response)}")

    async def _check_ready(self) -> dict[str, Any]:
        async def check(endpoint: _Endpoint) -> dict[str, Any]:
            try:
                card = await self._served_model(endpoint)
            except (httpx.TransportError, ValueError) as exc:
                raise _Retryable("connect", f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
            await self._probe_one(endpoint, card["id"])
            return card

        results = await asyncio.gather(*(check(e) for e in self._endpoints), return_exceptions=True)
        status: dict[str, str] = {}
        cards = []
        for endpoint, result in zip(self._endpoints, results, strict=True):
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
        for url, problem in status.items():
            if problem != "ready":
                log.warning("teacher server %s is not ready (%s); using the others", url, problem)
        card = cards[0]
        root = card.get("root") or card["id"]
        return {"model": card["id"], "revision": f"served:{root}", "endpoints": status}

    async def _any_ready(self, model: str) -> bool:
        """Is any server serving at all? Asked once per batch, when a request ran out of retries."""
        if self._probe is None:

            async def probe() -> bool:
                results = await asyncio.gather(
                    *(self._probe_one(e, model) for e in self._endpoints), return_exceptions=True
                )
                return any(not isinstance(r, BaseException) for r in results)

            self._probe = asyncio.ensure_future(probe())
        return await self._probe

    # -- requests -------------------------------------------------------------------------------

    def body(self, request: ChatRequest, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": list(request.messages),
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_tokens,
        }
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

    async def _acquire(self, avoid: _Endpoint | None) -> _Endpoint:
        assert self._slots is not None
        limit = self.config.concurrency
        async with self._slots:
            await self._slots.wait_for(lambda: any(e.in_flight < limit for e in self._endpoints))
            free = [e for e in self._endpoints if e.in_flight < limit]
            if avoid is not None and len(free) > 1 and avoid in free:
                free.remove(avoid)  # after a failure, try another server first
            chosen = min(free, key=lambda e: (e.failures, e.in_flight, e.sent))
            chosen.in_flight += 1
            chosen.sent += 1
            return chosen

    async def _release(self, endpoint: _Endpoint) -> None:
        assert self._slots is not None
        async with self._slots:
            endpoint.in_flight -= 1
            self._slots.notify_all()

    async def _json(self, endpoint: _Endpoint, path: str, body: dict[str, Any]) -> Any:
        """POST and return the JSON answer; retryable trouble raises _Retryable, the rest Rejected."""
        self.http_attempts += 1
        url = f"{endpoint.url}{path}" if not path.startswith("^") else f"{server_root(endpoint.url)}{path[1:]}"
        try:
            response = await asyncio.wait_for(self._http().post(url, json=body), self.config.timeout)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise _Retryable("timeout", f"{endpoint.url}: no answer within {self.config.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise _Retryable("connect", f"{endpoint.url}: {type(exc).__name__}: {exc}".rstrip(": ")) from None
        code = response.status_code
        if code in (408, 429) or code >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise _Retryable(f"http_{code}", f"{endpoint.url}: HTTP {code}: {_error_detail(response)}", retry_after)
        if code != 200:
            raise Rejected(f"HTTP {code} from {endpoint.url}: {_error_detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise Rejected(f"malformed response from {endpoint.url}: {exc}") from None

    async def _post(self, endpoint: _Endpoint, body: dict[str, Any]) -> Completion:
        try:
            data = await self._json(endpoint, "/chat/completions", body)
        except Rejected as exc:
            return Completion.failed(str(exc))
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
            return Completion.failed(f"malformed response from {endpoint.url}: {type(exc).__name__}: {exc}")

    async def _answer(self, endpoint: _Endpoint, request: ChatRequest, body: dict[str, Any]) -> Completion:
        if request.score is None:
            return await self._post(endpoint, body)
        try:
            return await self._scorer.score(request, body["model"], lambda path, b: self._json(endpoint, path, b))
        except Rejected as exc:
            return Completion.failed(str(exc))

    def backoff_wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before re-send number `attempt + 1`: the server's Retry-After if it gave one,
        else exponential backoff with "equal jitter" (half fixed, half random), capped."""
        if retry_after is not None:
            return min(retry_after, self.config.backoff_max)
        ceiling = min(self.config.backoff_max, self.config.backoff * 2**attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _complete(self, index: int, request: ChatRequest, model: str) -> tuple[int, Completion]:
        body = self.body(request, model)
        tries = self.config.max_retries + 1
        avoid: _Endpoint | None = None
        last = ""
        for attempt in range(tries):
            endpoint = await self._acquire(avoid)
            try:
                completion = await self._answer(endpoint, request, body)
            except _Retryable as exc:
                error = exc
            else:
                endpoint.failures = 0
                return index, completion
            finally:
                await self._release(endpoint)  # never hold a slot while backing off
            endpoint.failures += 1
            avoid, last = endpoint, str(error)
            if attempt + 1 < tries:
                wait = self.backoff_wait(attempt, error.retry_after)
                self.waits.append((error.kind, wait))
                log.warning("teacher request: %s; re-sending in %.2f s (try %d of %d)", error, wait, attempt + 2, tries)
                await self._sleep(wait)
        if not await self._any_ready(model):
            raise TeacherUnavailable(f"no teacher server answers any more (last error: {last})")
        return index, Completion.failed(f"gave up after {tries} attempts: {last}")

    def stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Send the whole batch; yield (index, completion) as each response arrives."""
        if not requests:
            return
        model = self.model_name  # readiness first: an unreachable teacher fails before any work
        loop = self._loop
        assert loop is not None
        if self._slots is None:
            self._slots = asyncio.Condition()
        self._probe = None
        pending = {loop.create_task(self._complete(i, r, model)) for i, r in enumerate(requests)}
        try:
            while pending:
                done, pending = loop.run_until_complete(asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED))
                failed = [exc for t in done if (exc := t.exception()) is not None]
                for task in done:
                    if task.exception() is None:
                        yield task.result()
                if failed:
                    raise failed[0]  # TeacherUnavailable: the run stops (and resumes later)
        finally:
            for task in pending:
                task.cancel()
            if pending:  # consumer stopped early or a dead backend: leave nothing running
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        results: dict[int, Completion] = dict(self.stream(requests))
        return [results[i] for i in range(len(requests))]

    def close(self) -> None:
        if self._loop is None:
            return
        if self._client is not None:
            self._loop.run_until_complete(self._client.aclose())
            self._client = None
        self._loop.close()
        self._loop = None
        self._slots = None
