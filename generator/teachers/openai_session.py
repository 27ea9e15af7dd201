"""Requests submitted one by one to an OpenAI-compatible server (`TeacherSession`): each is a
task on the teacher's private event loop, sent at once (within the endpoint pool's limits), and
`wait` runs the loop until some answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from generator.teachers.base import ChatRequest, Completion

Complete = Callable[[int, ChatRequest], Coroutine[Any, Any, tuple[int, Completion]]]


class OpenAISession:
    """Requests sent as they are submitted, on the teacher's loop (which runs inside `wait`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, complete: Complete):
        self.loop = loop
        self.complete = complete  # (tag, request) -> (tag, completion), with the teacher's retries
        self.tasks: set[asyncio.Task[tuple[int, Completion]]] = set()
        self.failed: BaseException | None = None

    def submit(self, items: Sequence[tuple[int, ChatRequest]]) -> None:
        for tag, request in items:
            self.tasks.add(self.loop.create_task(self.complete(tag, request)))

    def wait(self) -> list[tuple[int, Completion]]:
        if self.failed is not None:
            raise self.failed  # TeacherUnavailable: the run stops (and resumes later)
        if not self.tasks:
            return []
        done, self.tasks = self.loop.run_until_complete(asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED))
        answered = [t.result() for t in done if t.exception() is None]
        self.failed = next((exc for t in done if (exc := t.exception()) is not None), None)
        if self.failed is not None and not answered:
            raise self.failed
        return answered  # what arrived with a failure is still handed over (and journaled)

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            self.loop.run_until_complete(asyncio.gather(*self.tasks, return_exceptions=True))
        self.tasks = set()
