"""The teacher contract: a batch of chat requests in, one completion per request out.

Every backend (in-process vLLM, an OpenAI-compatible server, a scripted fake in tests) implements
`Teacher`. Requests carry everything that determines their output — messages, sampling, seed and
the guided-decoding schema — so a request's id is a pure function of its content.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from prompts import stable_hash

FinishReason = Literal["stop", "length", "error"]
# Scoring requests read the teacher's log-probabilities instead of sampling text:
#   "choices": log p of each of `choices` as guided choice would decode it, renormalised over
#              the choices (the completion's text is the most likely one);
#   "reply":   log p of the last (assistant) message's tokens given the turns before it.
ScoreKind = Literal["choices", "reply"]


class TeacherConfigBase(BaseModel):
    """What every backend's config has. Each backend subclasses it in its own module, with
    `backend: Literal["<name>"]` and its own fields; generator/teachers/registry.py makes the
    `teacher:` section the union of the registered ones, chosen by `backend`."""

    # hide_input_in_errors: a key pasted into a field (api_key_env) must not reach an error message.
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=(), hide_input_in_errors=True)

    backend: str
    model: str
    revision: str | None = None  # override the content-derived revision (e.g. a git sha)
    # Requests a streaming run keeps in the engine (None: the backend's own default; 0: no
    # streaming, round-based batches). Scheduling only: it never changes which rows a run keeps,
    # so it is left out of a saved config unless set.
    in_flight: int | None = Field(None, ge=0, exclude_if=lambda v: v is None)

    def for_run(self, rows: int) -> Self:
        """This config with every setting left to the run's size made definite (default: none)."""
        return self


class SamplingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.7, ge=0)
    # 1.0 by measurement (bench/sampling_cost.py, README "Sampling and start-up"): on vLLM's CPU
    # sampler top_p 0.95 cost ~27% of decode speed and bought no diversity.
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    # Truncation without a full-vocabulary sort (vLLM's CPU sampler sorts the whole vocabulary at
    # every step for top_p < 1): min_p keeps tokens with p >= min_p * p_max; top_k the k likeliest
    # (0: off). At their neutral values they are left out of every dump (request ids, row meta,
    # config.yaml), so runs and journals from before they existed keep their ids.
    top_k: int = Field(0, ge=0)
    min_p: float = Field(0.0, ge=0, le=1)

    @model_serializer(mode="wrap")
    def _without_neutral(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key, neutral in (("top_k", 0), ("min_p", 0.0)):
            if data.get(key) == neutral:
                data.pop(key)
        return data


class ChatRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: list[dict[str, str]]
    sampling: SamplingConfig
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    choices: list[str] | None = None  # guided choice (e.g. a label set) instead of a JSON schema
    score: ScoreKind | None = None

    def request_id(self, model: str, revision: str, endpoint: str) -> str:
        """Deterministic identity: the same id means the teacher would be asked the same thing."""
        identity: dict[str, Any] = {
            "messages": self.messages,
            "sampling": self.sampling.model_dump(),
            "seed": self.seed,
            "json_schema": self.json_schema,
            "choices": self.choices,
            "model": model,
            "revision": revision,
            "endpoint": endpoint,
        }
        if self.score is not None:  # only when set: every earlier journal keeps its ids
            identity["score"] = self.score
        return stable_hash(identity, length=32)

    def reply_prefix(self) -> list[dict[str, str]]:
        """For a "reply" score: the turns the scored reply answers."""
        if not self.messages or self.messages[-1].get("role") != "assistant":
            raise ValueError("a reply score needs the reply as the last (assistant) message")
        return list(self.messages[:-1])


class Completion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None  # set when the backend failed this one request (finish_reason="error")
    # Scoring requests: per-choice log-probabilities, or the reply's summed log-probability.
    choice_logprobs: dict[str, float] | None = None
    reply_logprob: float | None = None
    reply_tokens: int | None = None

    @classmethod
    def failed(cls, message: str) -> Completion:
        return cls(text="", finish_reason="error", error=message)


class TeacherUnavailable(RuntimeError):
    """The backend itself is gone (dead engine, no server): stop the run, resume it later.

    Per-request failures are `Completion.failed(...)` instead; those are retried and quarantined.
    """


@runtime_checkable
class Teacher(Protocol):
    """A batch text generator. Implementations must return completions in request order."""

    @property
    def model_name(self) -> str: ...

    @property
    def revision(self) -> str: ...

    @property
    def endpoint(self) -> str:
        """Where the model runs ("in-process", a URL): part of a request's cache identity."""
        ...

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]: ...

    def close(self) -> None: ...


@runtime_checkable
class StreamingTeacher(Teacher, Protocol):
    """A teacher that hands each completion over as soon as it finishes (any order).

    The gateway journals completions as they arrive, so a killed run loses only the requests
    still in flight, not the whole batch.
    """

    def stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]: ...


class TeacherSession(Protocol):
    """Requests submitted at any time, completions collected as they finish (any order).

    What keeps an engine full: a streaming run submits new requests while others are in flight.
    Tags are the caller's; `wait` blocks until at least one submitted request has finished.
    """

    def submit(self, items: Sequence[tuple[int, ChatRequest]]) -> None: ...

    def wait(self) -> list[tuple[int, Completion]]: ...

    def close(self) -> None:
        """Abandon whatever is still in flight."""
        ...


@runtime_checkable
class SessionTeacher(Teacher, Protocol):
    """A teacher that can hold requests submitted one by one (see `TeacherSession`)."""

    @property
    def in_flight(self) -> int:
        """How many requests a streaming run should keep in the engine."""
        ...

    def open_session(self) -> TeacherSession: ...


def normalize_finish_reason(reason: str | None) -> FinishReason:
    """Backends say 'stop', 'eos', 'length', 'abort'...: collapse to what the pipeline acts on."""
    if reason == "length":
        return "length"
    if reason in ("stop", "eos", "stop_sequence", None):
        return "stop"
    return "error"
