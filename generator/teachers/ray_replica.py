"""What runs inside one Ray actor of the teacher pool (generator/teachers/ray.py): one engine."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from generator.teachers.base import ChatRequest, Completion, StreamingTeacher, Teacher


class TeacherReplica:
    """Runs inside a Ray actor: one engine, built once, answering chunks of requests as a stream."""

    def __init__(self, factory: Callable[[], Teacher], index: int, cpus: float):
        bind = _core_group(index, cpus)
        if bind is not None:
            # Two CPU engines on one node must not pin the same cores (Ray does not set affinity).
            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = bind
        self.index = index
        self.teacher = factory()

    def start(self) -> dict[str, Any]:
        """Build the engine now (not on the first request) and say who and where we are."""
        started = time.perf_counter()
        getattr(self.teacher, "llm", None)  # in-process engines build lazily on this property
        import ray

        return {
            "model": self.teacher.model_name,
            "revision": self.teacher.revision,
            "endpoint": self.teacher.endpoint,
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "startup_seconds": round(time.perf_counter() - started, 3),
        }

    def stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        if isinstance(self.teacher, StreamingTeacher):
            yield from self.teacher.stream(requests)
        else:
            yield from enumerate(self.teacher.generate(requests))

    def close(self) -> None:
        self.teacher.close()


def _core_group(index: int, cpus: float) -> str | None:
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    per = max(1, int(cpus))
    if not cores or per >= len(cores) or "VLLM_CPU_OMP_THREADS_BIND" in os.environ:
        return None
    slot = index % (len(cores) // per)
    group = cores[slot * per : (slot + 1) * per]
    return f"{group[0]}-{group[-1]}" if len(group) > 1 else str(group[0])
