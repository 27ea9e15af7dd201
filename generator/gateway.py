"""The one place every teacher call goes through.

Strategies describe *what* to ask (`Call`); the gateway decides how: it derives each request's
seed and id, sends whole batches, validates every completion against the task spec's schema,
re-sends invalid or truncated ones with a new seed, and quarantines what still fails (`Call`,
`Outcome` and the checks live in generator/calls.py, streaming in generator/flow.py). Because
all traffic passes here, the run journal (exactly-once resume) plugs in here and nowhere else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from generator.calls import Call, CompletionStore, Outcome, StageStats, check_completion, derive_seed
from generator.flow import Flow
from generator.teachers.base import (
    ChatRequest,
    Completion,
    SessionTeacher,
    StreamingTeacher,
    Teacher,
    TeacherUnavailable,
)

log = logging.getLogger("seedforge.gateway")


class Gateway:
    def __init__(
        self,
        teacher: Teacher,
        *,
        base_seed: int = 0,
        max_attempts: int = 3,
        journal: CompletionStore | None = None,
        journal_every: int = 1,
        token_budget: int | None = None,
    ):
        self.teacher = teacher
        self.token_budget = token_budget
        self.base_seed = base_seed
        self.max_attempts = max_attempts
        self.journal = journal
        self.journal_every = journal_every
        self.stats: dict[str, StageStats] = {}
        self.teacher_calls = 0  # completions actually produced by the teacher (not the journal)
        self.flow: Flow | None = None  # held open by a strategy (see open_flow); run() joins it

    @property
    def spent_tokens(self) -> int:
        """Prompt + completion tokens of every completion used, journaled or fresh.

        Counting journaled ones too keeps a resumed run stopping exactly where the original did.
        """
        return sum(s.prompt_tokens + s.completion_tokens for s in self.stats.values())

    @property
    def over_budget(self) -> bool:
        return self.token_budget is not None and self.spent_tokens >= self.token_budget

    def request_for(self, call: Call, attempt: int) -> ChatRequest:
        return ChatRequest(
            messages=call.messages,
            sampling=call.sampling,
            seed=derive_seed(self.base_seed, call.key, attempt),
            json_schema=(call.json_schema or call.spec.json_schema)
            if call.guided and not call.choices and not call.score
            else None,
            choices=list(call.choices) if call.choices and (call.guided or call.score) else None,
            score=call.score,
        )

    def request_id(self, request: ChatRequest) -> str:
        return request.request_id(self.teacher.model_name, self.teacher.revision, self.teacher.endpoint)

    def stage_begins(self, stage: str) -> None:
        """A strategy starts taking outcomes of `stage` (observers follow; see pipeline/progress.py)."""
        self.stats.setdefault(stage, StageStats())

    def stage_ends(self, stage: str) -> None:
        """A strategy has taken every outcome of `stage` it asked for, for now."""

    @property
    def streams(self) -> bool:
        """Does the teacher take requests one by one (streaming), rather than in batches?"""
        return isinstance(self.teacher, SessionTeacher) and self.teacher.in_flight > 0

    @contextmanager
    def open_flow(self) -> Iterator[Flow]:
        """One flow for a stretch of work: every `run` inside joins it, so requests a strategy
        sent ahead (Flow.send_ahead) answer the calls `run` makes later, and the engine keeps
        holding them across what would otherwise be separate batches."""
        with Flow(self) as flow:
            self.flow = flow
            try:
                yield flow
            finally:
                self.flow = None

    def run(self, calls: Sequence[Call], stage: str) -> list[Outcome]:
        """Answer every call: validated output, or a quarantine verdict after max_attempts.

        A teacher that takes requests one by one (see generator/flow.py) gets them streamed: at
        most its in-flight count at a time, and an invalid answer re-sent the moment it arrives
        instead of in a lone retry batch after the slowest request. Otherwise one batch per attempt.
        """
        if calls and self.flow is not None:
            tickets = [self.flow.submit(call, stage) for call in calls]
            return [self.flow.take(ticket) for ticket in tickets]
        if calls and self.streams:
            with Flow(self) as flow:
                tickets = [flow.submit(call, stage) for call in calls]
                return [flow.take(ticket) for ticket in tickets]
        stats = self.stats.setdefault(stage, StageStats())
        stats.requests += len(calls)
        outcomes: list[Outcome | None] = [None] * len(calls)
        history: list[list[str]] = [[] for _ in calls]
        pending = list(range(len(calls)))
        attempt = 0
        while pending:
            requests = [self.request_for(calls[i], attempt) for i in pending]
            completions = self._complete(requests, stats)
            retry = []
            for i, request, completion in zip(pending, requests, completions, strict=True):
                history[i].append(self.request_id(request))
                outcome = self._check(calls[i], completion, attempt + 1, history[i], request.seed)
                if outcome.ok or attempt + 1 >= self.max_attempts:
                    outcomes[i] = outcome
                    stats.quarantined += not outcome.ok
                else:
                    retry.append(i)
            stats.retries += len(retry)
            log.info(
                "batch of %d requests (attempt %d): %d to retry",
                len(requests),
                attempt + 1,
                len(retry),
                extra={"stage": stage, "spent_tokens": self.spent_tokens, "cached": stats.cached},
            )
            pending = retry
            attempt += 1
        return [o for o in outcomes if o is not None]

    def _complete(self, requests: list[ChatRequest], stats: StageStats) -> list[Completion]:
        ids = [self.request_id(r) for r in requests]
        found = [self.journal.get(i) if self.journal is not None else None for i in ids]
        missing = [k for k, c in enumerate(found) if c is None]
        stats.attempts += len(requests)
        stats.cached += len(requests) - len(missing)
        if missing:
            started = time.perf_counter()
            for k, completion in self._fresh([requests[k] for k in missing], [ids[k] for k in missing]):
                found[missing[k]] = completion
            stats.teacher_seconds += time.perf_counter() - started
        done = [c for c in found if c is not None]
        if len(done) != len(requests):
            raise TeacherUnavailable(f"teacher answered {len(done)} of {len(requests)} requests")
        for c in done:
            stats.prompt_tokens += c.prompt_tokens
            stats.completion_tokens += c.completion_tokens
        return done

    def _fresh(self, requests: list[ChatRequest], ids: list[str]) -> Iterator[tuple[int, Completion]]:
        """Completions from the teacher, journaled in small groups as they arrive."""
        unjournaled: list[tuple[str, Completion]] = []
        try:
            for k, completion in self._isolating(requests, list(range(len(requests)))):
                self.teacher_calls += 1
                # Errors are not journaled: a transient failure must be retried on resume.
                if completion.finish_reason != "error":
                    unjournaled.append((ids[k], completion))
                if len(unjournaled) >= self.journal_every:
                    self._journal(unjournaled)
                yield k, completion
        finally:
            self._journal(unjournaled)
            if self.journal is not None:
                self.journal.sync()

    def _isolating(self, requests: list[ChatRequest], index: list[int]) -> Iterator[tuple[int, Completion]]:
        """Ask the teacher; if a batch call fails, split it in halves until the culprit is alone.

        One poisoned request must not fail the 63 good ones sent with it, retry after retry.
        Completions that arrived before the failure are kept. A dead backend stops everything.
        """
        done: set[int] = set()
        try:
            for k, completion in self._arriving(requests):
                done.add(k)
                yield index[k], completion
        except TeacherUnavailable:
            raise
        except Exception as exc:
            rest = [k for k in range(len(requests)) if k not in done]
            if len(rest) == 1:
                # Retried as a failed attempt; the log keeps the cause, which the retry would hide.
                log.warning("the teacher refused a request: %s: %s", type(exc).__name__, exc)
                yield index[rest[0]], Completion.failed(f"{type(exc).__name__}: {exc}")
                return
            half = len(rest) // 2
            for part in (rest[:half], rest[half:]):
                yield from self._isolating([requests[k] for k in part], [index[k] for k in part])

    def _arriving(self, requests: list[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        if isinstance(self.teacher, StreamingTeacher):
            yield from self.teacher.stream(requests)
            return
        answers = self.teacher.generate(requests)
        if len(answers) != len(requests):
            raise TeacherUnavailable(f"teacher returned {len(answers)} completions for {len(requests)} requests")
        yield from enumerate(answers)

    def _journal(self, items: list[tuple[str, Completion]]) -> None:
        if self.journal is not None and items:
            self.journal.put_many(items)
        items.clear()

    _check = staticmethod(check_completion)
