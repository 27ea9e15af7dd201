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


class VLLMSession:
    """Requests in one engine, tagged by the caller. A scoring request becomes one or more engine
    reads (see generator/teachers/scoring.py); it is answered when the last of them finishes."""

    def __init__(self, llm: Any, params: Callable[[ChatRequest], Any], completion: Callable[[Any], Completion]):
        self.llm = llm
        self.engine = llm.llm_engine
        self.params = params
        self.completion = completion
        self.owners: dict[str, tuple[str, int, int | None]] = {}  # output id -> (internal id, tag, part)
        self.jobs: dict[int, ScoreJob] = {}
        self.pending: set[str] = set()  # internal ids still in the engine

    def submit(self, items: Sequence[tuple[int, ChatRequest]]) -> None:
        try:
            self._enqueue(items)
        except Exception as exc:
            raise unavailable(exc) from exc

    def _own(self, ids: list[str], keys: list[tuple[int, int | None]]) -> None:
        for rid, (tag, part) in zip(ids, keys, strict=True):
            self.owners[external_id(rid)] = self.owners[str(rid)] = (str(rid), tag, part)
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

    def wait(self) -> list[tuple[int, Completion]]:
        """Step the engine until at least one request is answered (nothing pending: nothing)."""
        done: list[tuple[int, Completion]] = []
        try:
            while not done and self.pending and self.engine.has_unfinished_requests():
                for out in self.engine.step():
                    owner = self.owners.pop(out.request_id, None) if out.finished else None
                    if owner is None:
                        continue
                    internal, tag, part = owner
                    self.owners.pop(external_id(internal), None)
                    self.owners.pop(internal, None)
                    self.pending.discard(internal)
                    if part is None:
                        done.append((tag, self.completion(out)))
                    elif self.jobs[tag].add(part, out):
                        done.append((tag, self.jobs.pop(tag).completion()))
        except Exception as exc:
            raise unavailable(exc) from exc
        if not done and self.pending:
            raise TeacherUnavailable(f"engine finished without answering {len(self.pending)} request(s)")
        return done

    def close(self) -> None:
        if self.pending:  # never leave requests behind for the next user of the engine
            self.engine.abort_request(sorted(self.pending), internal=True)
            self.pending.clear()
        self.owners.clear()
        self.jobs.clear()
