"""What strategies ask the teacher (`Call`) and get back (`Outcome`), how an answer is checked,
and the per-stage counts: shared by the gateway (generator/gateway.py) and the streaming flow
(generator/flow.py), which build on this module and not on each other's internals."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from generator.teachers.base import ChatRequest, Completion, SamplingConfig, ScoreKind, Teacher
from prompts import TaskSpec, stable_hash, validation_errors


@dataclass(frozen=True, eq=False)
class Call:
    """A logical request. `key` names it stably (e.g. "instructions/r2/p17") for seeding."""

    spec: TaskSpec
    messages: list[dict[str, str]]
    sampling: SamplingConfig
    key: str
    guided: bool = True
    json_schema: dict[str, Any] | None = None  # a request-specific tightening of spec.json_schema
    choices: tuple[str, ...] | None = None  # guided choice (the spec needs a choice_field)
    score: ScoreKind | None = None  # read logprobs instead of sampling (see generator/teachers/scoring.py)


@dataclass
class Outcome:
    call: Call
    parsed: BaseModel | None
    text: str
    attempts: int
    request_ids: list[str]
    seed: int | None
    failure: str | None = None  # truncated | invalid_json | schema_error | teacher_error
    errors: list[dict[str, Any]] = field(default_factory=list)
    completion: Completion | None = None  # the last answer as the teacher gave it (scores live here)

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def request_id(self) -> str:
        return self.request_ids[-1]


@dataclass
class StageStats:
    requests: int = 0
    attempts: int = 0
    retries: int = 0
    quarantined: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    teacher_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.__dict__)
        out["teacher_seconds"] = round(self.teacher_seconds, 3)
        out["tokens_per_second"] = (
            round(self.completion_tokens / self.teacher_seconds, 2) if self.teacher_seconds else None
        )
        return out


class CompletionStore(Protocol):
    """What the run journal offers the gateway: look up and record completions by request id."""

    def get(self, request_id: str) -> Completion | None: ...

    def put_many(self, items: Sequence[tuple[str, Completion]]) -> None: ...

    def sync(self) -> None: ...


def derive_seed(base_seed: int, key: str, attempt: int) -> int:
    return int(stable_hash(base_seed, key, attempt), 16) % (2**31 - 1)


def check_completion(call: Call, completion: Completion, attempts: int, ids: list[str], seed: int | None) -> Outcome:
    """The outcome of one answer: parsed and validated, or the failure that sends it again."""

    def outcome(parsed: BaseModel | None, failure: str | None = None, errors: Any = ()) -> Outcome:
        return Outcome(call, parsed, completion.text, attempts, list(ids), seed, failure, list(errors), completion)

    if completion.finish_reason == "error":
        return outcome(None, "teacher_error", [{"msg": completion.error}])
    if completion.finish_reason == "length":
        # Truncated JSON may still parse after "repair"; that would invent content. Never.
        return outcome(None, "truncated", [{"msg": "hit max_tokens"}])
    if call.score == "reply":
        if completion.reply_logprob is None:
            return outcome(None, "schema_error", [{"msg": "the teacher returned no reply score"}])
        return outcome(None)
    if call.score == "choices" and set(completion.choice_logprobs or {}) != set(call.choices or ()):
        return outcome(None, "schema_error", [{"msg": "the teacher returned no score for some choice"}])
    try:
        parsed = call.spec.parse(completion.text)
    except ValidationError as exc:
        errors = validation_errors(exc)
        failure = "invalid_json" if any(e["type"] == "json_invalid" for e in errors) else "schema_error"
        return outcome(None, failure, errors)
    if call.choices and call.spec.choice_field and getattr(parsed, call.spec.choice_field) not in call.choices:
        return outcome(None, "schema_error", [{"msg": f"{completion.text!r} is not one of {list(call.choices)}"}])
    return outcome(parsed)


class FlowGateway(Protocol):
    """What a flow (generator/flow.py) uses of its gateway (generator/gateway.py)."""

    teacher: Teacher
    journal: CompletionStore | None
    stats: dict[str, StageStats]
    max_attempts: int
    teacher_calls: int

    @property
    def spent_tokens(self) -> int: ...
    def request_for(self, call: Call, attempt: int) -> ChatRequest: ...
    def request_id(self, request: ChatRequest) -> str: ...
    def _fresh(self, requests: list[ChatRequest], ids: list[str]) -> Iterator[tuple[int, Completion]]: ...
