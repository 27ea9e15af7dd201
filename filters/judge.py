"""LLM-as-a-judge: the teacher scores each pair on a rubric; rows below the threshold are dropped.

The filter owns the rubric (the `judge` task spec: template + pydantic schema in prompts/) and
the decision; it does not own the model. Filters cannot import the generator, so the pipeline
layer injects `judge`, a callable that sends a whole batch of judge prompts through the
generator's Gateway (guided JSON into the schema, retries, journal) and returns one reply per
request. The chain's batch hook (`prepare`) hands it a block of rows at a time, and the filter
is `batch_only`, so configs can place it only in the batch-screened `post` chain: the teacher
is never asked about one row at a time.

meta: every criterion's score, the aggregate (`score`), the rationale and the request id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from filters.base import Filter
from prompts import Record, Verdict, get_spec
from prompts.schemas import JudgeScores

CRITERIA = ("accuracy", "relevance", "clarity", "usefulness")


@dataclass(frozen=True)
class JudgeRequest:
    key: str  # stable per row: the gateway derives the request's seed and id from it
    spec: str
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class JudgeReply:
    scores: JudgeScores | None
    failure: str | None = None  # why no valid scores came back (truncated, schema_error...)
    request_id: str | None = None
    errors: list[Any] = field(default_factory=list)


JudgeFn = Callable[[Sequence[JudgeRequest]], list[JudgeReply]]


class LLMJudge(Filter):
    name: ClassVar[str] = "llm_judge"
    requires: ClassVar[tuple[str, ...]] = ("judge",)
    batch_only: ClassVar[bool] = True

    def __init__(
        self,
        threshold: float = 6.0,
        criteria: list[str] | None = None,
        aggregate: Literal["mean", "min"] = "mean",
        on_failure: Literal["reject", "keep"] = "reject",
        temperature: float = 0.0,
        max_tokens: int = 384,
        judge: JudgeFn | None = None,
    ):
        self.criteria = list(criteria or CRITERIA)
        unknown = sorted(set(self.criteria) - set(CRITERIA))
        if unknown:
            raise ValueError(f"llm_judge: unknown criteria {unknown}; the rubric has {list(CRITERIA)}")
        if aggregate not in ("mean", "min") or on_failure not in ("reject", "keep"):
            raise ValueError("llm_judge: aggregate is mean|min and on_failure is reject|keep")
        if judge is None:
            raise ValueError("llm_judge needs a teacher: run it through `seedforge generate` or `seedforge filter`")
        self.threshold = threshold
        self.aggregate = aggregate
        self.on_failure = on_failure
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._judge = judge
        self._spec = get_spec("judge")
        self._replies: dict[str, JudgeReply] = {}

    def request(self, record: Record) -> JudgeRequest:
        messages = self._spec.render(instruction=record.instruction, input=record.input, output=record.output)
        return JudgeRequest(f"judge/{record.id}", self._spec.name, messages, self.temperature, self.max_tokens)

    def prepare(self, records: Sequence[Record]) -> None:
        # The previous block is decided: keep only replies for this block's rows.
        self._replies = {r.id: self._replies[r.id] for r in records if r.id in self._replies}
        todo = [r for r in records if r.id not in self._replies]
        if todo:
            replies = self._judge([self.request(r) for r in todo])
            if len(replies) != len(todo):
                raise RuntimeError(f"judge answered {len(replies)} of {len(todo)} requests")
            self._replies.update(zip((r.id for r in todo), replies, strict=True))

    def check(self, record: Record) -> Verdict:
        reply = self._replies.get(record.id)
        if reply is None:
            reply = self._judge([self.request(record)])[0]
            self._replies[record.id] = reply
        if reply.scores is None:
            failed = {"failure": reply.failure, "request_id": reply.request_id}
            if self.on_failure == "keep":
                return Verdict.ok(score=None, **failed)
            return Verdict.drop("judge_failed", score=None, errors=reply.errors, **failed)
        scores = {c: getattr(reply.scores, c) for c in CRITERIA}
        chosen = [scores[c] for c in self.criteria]
        score = round(sum(chosen) / len(chosen), 3) if self.aggregate == "mean" else float(min(chosen))
        detail: dict[str, Any] = {"scores": scores, "rationale": reply.scores.rationale, "request_id": reply.request_id}
        if score < self.threshold:
            return Verdict.drop("judge_below_threshold", score=score, threshold=self.threshold, **detail)
        return Verdict.ok(score=score, **detail)
