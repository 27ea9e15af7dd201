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
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from generator.teachers.base import ChatRequest, Completion, TeacherConfigBase, TeacherUnavailable
from generator.teachers.openai_http import (
    Endpoint,
    EndpointPool,
    Retryable,
    backoff_seconds,
    chat_body,
    chat_completion,
    check_ready,
    error_detail,
    http_client,
    parse_retry_after,
    probe,
)
from generator.teachers.openai_scoring import Rejected, RemoteScorer, server_root
from generator.teachers.openai_session import OpenAISession

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class OpenAIConfig(TeacherConfigBase):
    """`backend: openai`: an OpenAI-compatible server (`vllm serve`), see base_urls."""

    backend: Literal["openai"] = "openai"
    model: str = "auto"  # the served model name; "auto": the server's only model
    base_urls: tuple[str, ...] = Field((), description="e.g. http://teacher:8000/v1; requests spread over all")
    # The *name* of an environment variable holding the key: the key itself never enters a config
    # file, a run directory or a job record.
    api_key_env: str | None = None
    concurrency: int = Field(32, ge=1, description="most requests in flight per base URL")
    timeout: float = Field(600.0, gt=0, description="seconds per HTTP attempt")
    max_retries: int = Field(4, ge=0, description="re-sends after a retryable error (connect, timeout, 429, 5xx)")
    backoff: float = Field(0.5, ge=0, description="wait before the first re-send; doubles each time, with jitter")
    backoff_max: float = Field(60.0, ge=0, description="longest wait, Retry-After included")

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError("each base URL must start with http:// or https://")
        return tuple(u.rstrip("/") for u in urls)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        # Deliberately not echoing the value: if this fails, it may be the key itself.
        if name is not None and not ENV_NAME.match(name):
            raise ValueError("must be the name of an environment variable holding the key, not the key")
        return name

    @model_validator(mode="after")
    def _needs_urls(self) -> OpenAIConfig:
        if not self.base_urls:
            raise ValueError("backend 'openai' needs base_urls (e.g. [http://localhost:8000/v1])")
        return self


class OpenAITeacher:
    """`Teacher` (streaming) over one or more OpenAI-compatible `/v1` base URLs."""

    def __init__(self, config: OpenAIConfig, *, sleep: Sleep | None = None, rng: random.Random | None = None):
        if not config.base_urls:
            raise ValueError("the openai teacher needs teacher.base_urls")
        self.config = config
        self._sleep: Sleep = sleep or asyncio.sleep  # injectable: tests record waits instead of sleeping
        self._rng = rng or random.Random()
        self._endpoints = [Endpoint(url) for url in config.base_urls]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._pool: EndpointPool | None = None
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
            total = self.config.concurrency * len(self._endpoints)
            self._client = http_client(self.config.api_key_env, total, self.config.timeout)
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

    async def _check_ready(self) -> dict[str, Any]:
        card, status = await check_ready(self._http(), self._endpoints, self.config.model, self.config.timeout)
        for url, problem in status.items():
            if problem != "ready":
                log.warning("teacher server %s is not ready (%s); using the others", url, problem)
        root = card.get("root") or card["id"]
        return {"model": card["id"], "revision": f"served:{root}", "endpoints": status}

    async def _any_ready(self, model: str) -> bool:
        """Is any server serving at all? Asked once per batch, when a request ran out of retries."""
        if self._probe is None:

            async def any_answers() -> bool:
                results = await asyncio.gather(
                    *(probe(self._http(), e, model, self.config.timeout) for e in self._endpoints),
                    return_exceptions=True,
                )
                return any(not isinstance(r, BaseException) for r in results)

            self._probe = asyncio.ensure_future(any_answers())
        return await self._probe

    # -- requests -------------------------------------------------------------------------------

    async def _json(self, endpoint: Endpoint, path: str, body: dict[str, Any]) -> Any:
        """POST and return the JSON answer; retryable trouble raises Retryable, the rest Rejected."""
        self.http_attempts += 1
        url = f"{endpoint.url}{path}" if not path.startswith("^") else f"{server_root(endpoint.url)}{path[1:]}"
        try:
            response = await asyncio.wait_for(self._http().post(url, json=body), self.config.timeout)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise Retryable("timeout", f"{endpoint.url}: no answer within {self.config.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise Retryable("connect", f"{endpoint.url}: {type(exc).__name__}: {exc}".rstrip(": ")) from None
        code = response.status_code
        if code in (408, 429) or code >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise Retryable(f"http_{code}", f"{endpoint.url}: HTTP {code}: {error_detail(response)}", retry_after)
        if code != 200:
            raise Rejected(f"HTTP {code} from {endpoint.url}: {error_detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise Rejected(f"malformed response from {endpoint.url}: {exc}") from None

    async def _post(self, endpoint: Endpoint, body: dict[str, Any]) -> Completion:
        try:
            data = await self._json(endpoint, "/chat/completions", body)
        except Rejected as exc:
            return Completion.failed(str(exc))
        return chat_completion(data, endpoint.url)

    async def _answer(self, endpoint: Endpoint, request: ChatRequest, body: dict[str, Any]) -> Completion:
        if request.score is None:
            return await self._post(endpoint, body)
        try:
            return await self._scorer.score(request, body["model"], lambda path, b: self._json(endpoint, path, b))
        except Rejected as exc:
            return Completion.failed(str(exc))

    def backoff_wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before re-send number `attempt + 1` (Retry-After, else jittered backoff)."""
        return backoff_seconds(attempt, retry_after, self.config.backoff, self.config.backoff_max, self._rng)

    async def _complete(self, index: int, request: ChatRequest, model: str) -> tuple[int, Completion]:
        body = chat_body(request, model)
        tries = self.config.max_retries + 1
        avoid: Endpoint | None = None
        last = ""
        pool = self._pool
        assert pool is not None
        for attempt in range(tries):
            endpoint = await pool.acquire(avoid)
            try:
                completion = await self._answer(endpoint, request, body)
            except Retryable as exc:
                error = exc
            else:
                endpoint.failures = 0
                return index, completion
            finally:
                await pool.release(endpoint)  # never hold a slot while backing off
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

    @property
    def in_flight(self) -> int:
        """Requests a streaming run keeps open: `concurrency` per base URL."""
        if self.config.in_flight is not None:
            return self.config.in_flight
        return self.config.concurrency * max(1, len(self._endpoints))

    def open_session(self) -> OpenAISession:
        model = self.model_name  # readiness first: an unreachable teacher fails before any work
        if self._pool is None:
            self._pool = EndpointPool(self._endpoints, self.config.concurrency)
        self._probe = None
        assert self._loop is not None  # readiness made it
        return OpenAISession(self._loop, lambda tag, request: self._complete(tag, request, model))

    def stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Send the whole batch; yield (index, completion) as each response arrives."""
        if not requests:
            return
        session = self.open_session()
        try:
            session.submit(list(enumerate(requests)))
            while session.tasks or session.failed is not None:
                # Not `yield from` a list: a Ray streaming actor sends into this generator, and a list
                # iterator has no `send` (AttributeError, the request counted as refused).
                for item in session.wait():  # noqa: UP028
                    yield item
        finally:
            session.close()  # consumer stopped early or a dead backend: leave nothing running

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
        self._pool = None
