"""Requests added to the in-process engine while others run (`TeacherSession` for `vllm.LLM`).

`LLM.chat` takes a batch and returns when its slowest request ends; the engine idles while the
caller screens that batch and builds the next. Here requests are enqueued into the engine as
they come and `wait` steps it until some finish. The engine core runs in its own process, so it
keeps decoding while the caller screens what arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from generator.teachers.base import ChatRequest, Completion, TeacherUnavailable
from generator.teachers.vllm_scoring import ScoreJob


def external_id(request_id: Any) -> str:
    """enqueue returns internal ids ("7-1a2b3c4d"); outputs carry the external part ("7")."""
    return str(request_id).rsplit("-", 1)[0]


def unavailable(exc: Exception) -> Exception:
    """A dead engine stops the run (resume later); anything else is a per-request failure."""
    if type(exc).__name__ in {"EngineDeadError", "EngineGenerateError"}:
        return TeacherUnavailable(f"vLLM engine died: {exc}")
    return exc


class EngineRouter:
    """Hands each finished engine output to the session that submitted it. One per engine: a
    batch sent by another caller (say a judge filter's `Gateway.run` inside a streaming run)
    steps the same engine, and must not swallow the other session's answers."""

    def __init__(self, llm: Any):
        self.engine = llm.llm_engine
        self.owners: dict[str, tuple[str, VLLMSession, int, int | None]] = {}  # output id -> owner

    def own(self, rid: Any, session: VLLMSession, tag: int, part: int | None) -> None:
        self.owners[external_id(rid)] = self.owners[str(rid)] = (str(rid), session, tag, part)

    def step(self) -> None:
        for out in self.engine.step():
            owner = self.owners.pop(out.request_id, None) if out.finished else None
            if owner is None:
                continue
            internal, session, tag, part = owner
            self.owners.pop(external_id(internal), None)
            self.owners.pop(internal, None)
            session.deliver(internal, tag, part, out)

    def forget(self, internal: str) -> None:
        self.owners.pop(external_id(internal), None)
        self.owners.pop(internal, None)


class VLLMSession:
    """Requests in one engine, tagged by the caller. A scoring request becomes one or more engine
    reads (see generator/teachers/scoring.py); it is answered when the last of them finishes."""

    def __init__(
        self,
        llm: Any,
        router: EngineRouter,
        params: Callable[[ChatRequest], Any],
        completion: Callable[[Any], Completion],
    ):
        self.llm = llm
        self.router = router
        self.params = params
        self.completion = completion
        self.jobs: dict[int, ScoreJob] = {}
        self.pending: set[str] = set()  # internal ids still in the engine
        self.ready: list[tuple[int, Completion]] = []

    def submit(self, items: Sequence[tuple[int, ChatRequest]]) -> None:
        try:
            self._enqueue(items)
        except Exception as exc:
            raise unavailable(exc) from exc

    def _own(self, ids: list[str], keys: list[tuple[int, int | None]]) -> None:
        for rid, (tag, part) in zip(ids, keys, strict=True):
            self.router.own(rid, self, tag, part)
            self.pending.add(str(rid))

    def _enqueue(self, items: Sequence[tuple[int, ChatRequest]]) -> None:
        chats = [(tag, r) for tag, r in items if r.score is None]
        if chats:
            ids = self.llm.enqueue_chat(
                [list(r.messages) for _, r in chats],
                sampling_params=[self.params(r) for _, r in chats],
                use_tqdm=False,
            )
            self._own(ids, [(tag, None) for tag, _ in chats])
        for tag, request in items:
            if request.score is None:
                continue
            job = self.jobs[tag] = ScoreJob(request, self.llm.get_tokenizer())
            prompts, params = job.engine_inputs()
            ids = self.llm.enqueue(prompts, sampling_params=params, use_tqdm=False)
            self._own(ids, [(tag, part) for part in range(len(ids))])

    def deliver(self, internal: str, tag: int, part: int | None, out: Any) -> None:
        self.pending.discard(internal)
        if part is None:
            self.ready.append((tag, self.completion(out)))
        elif self.jobs[tag].add(part, out):
            self.ready.append((tag, self.jobs.pop(tag).completion()))

    def wait(self) -> list[tuple[int, Completion]]:
        """Step the engine until at least one request is answered (nothing pending: nothing)."""
        try:
            while not self.ready and self.pending and self.router.engine.has_unfinished_requests():
                self.router.step()
        except Exception as exc:
            raise unavailable(exc) from exc
        if not self.ready and self.pending:
            raise TeacherUnavailable(f"engine finished without answering {len(self.pending)} request(s)")
        done, self.ready = self.ready, []
        return done

    def close(self) -> None:
        if self.pending:  # never leave requests behind for the next user of the engine
            self.router.engine.abort_request(sorted(self.pending), internal=True)
            for internal in self.pending:
                self.router.forget(internal)
            self.pending.clear()
        self.jobs.clear()
        self.ready = []
