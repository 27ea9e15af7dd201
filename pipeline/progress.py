"""Live progress of a run: RUN_DIR/progress.json, rewritten atomically as the run advances.

Anyone can watch a run without talking to it: the job worker copies it into the job store, a
user can `cat` it. It is advisory (not fsynced, not part of the published artifacts): the
journal and the published version stay the truth.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from generator.gateway import Call, CompletionStore, Gateway, Outcome
from generator.teachers.base import Completion
from prompts import Record

PROGRESS = "progress.json"


def read_progress(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / PROGRESS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunProgress:
    def __init__(self, run_dir: Path, target: int, min_interval: float = 0.5):
        self.path = run_dir / PROGRESS
        self.min_interval = min_interval
        self._written = 0.0
        self.state: dict[str, Any] = {
            "stage": "starting",
            "round": 0,
            "kept": 0,
            "target": target,
            "completions": 0,  # answers received from the teacher in this process
            "reused": 0,  # answers taken from the journal instead
            "stages": {},
            "rejected": {},
        }
        self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        moment = time.monotonic()
        if not force and moment - self._written < self.min_interval:
            return
        self._written = moment
        self.state["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        tmp = self.path.with_name(f".{PROGRESS}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.state, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def set(self, force: bool = True, **fields: Any) -> None:
        self.state.update(fields)
        self.flush(force)

    def on_round(self, kept: int, target: int) -> None:
        self.set(kept=kept, target=target, round=self.state["round"] + 1)

    def screen(self, chain: Callable[[Record], Record]) -> Callable[[Record], Record]:
        """Wrap a filter chain so that every rejection is counted by stage and reason as it happens."""

        def screened(record: Record) -> Record:
            result = chain(record)
            if result.rejection is not None:
                by_reason = self.state["rejected"].setdefault(result.rejection.stage, {})
                by_reason[result.rejection.reason] = by_reason.get(result.rejection.reason, 0) + 1
                self.flush()
            return result

        return screened

    def funnel_so_far(self) -> dict[str, Any]:
        return {"kept": self.state["kept"], "rejected": self.state["rejected"]}


class _CountingStore:
    """The run journal, counting what arrives from the teacher and what it answers itself."""

    def __init__(self, store: CompletionStore, progress: RunProgress):
        self.store = store
        self.progress = progress

    def get(self, request_id: str) -> Completion | None:
        found = self.store.get(request_id)
        if found is not None:
            self.progress.state["reused"] += 1
        return found

    def put_many(self, items: Sequence[tuple[str, Completion]]) -> None:
        self.store.put_many(items)
        self.progress.state["completions"] += len(items)
        # A live token count for the current stage (the console's tokens/s); the gateway's own
        # figures replace the entry when the stage's call returns.
        entry = self.progress.state["stages"].setdefault(self.progress.state["stage"], {})
        entry["completion_tokens"] = entry.get("completion_tokens", 0) + sum(
            completion.completion_tokens for _, completion in items
        )
        self.progress.flush()

    def sync(self) -> None:
        self.store.sync()


class ObservedGateway(Gateway):
    """The gateway, reporting which teacher stage runs and its request counts to RunProgress."""

    def __init__(self, progress: RunProgress, *args: Any, journal: CompletionStore | None = None, **kwargs: Any):
        super().__init__(*args, journal=_CountingStore(journal, progress) if journal is not None else None, **kwargs)
        self.progress = progress

    def stage_begins(self, stage: str) -> None:
        super().stage_begins(stage)
        self.progress.set(stage=stage)

    def stage_ends(self, stage: str) -> None:
        stats = self.stats[stage]
        self.progress.state["stages"][stage] = {
            "requests": stats.requests,
            "attempts": stats.attempts,
            "cached": stats.cached,
            "quarantined": stats.quarantined,
            "completion_tokens": stats.completion_tokens,
        }
        self.progress.flush(force=True)

    def run(self, calls: Sequence[Call], stage: str) -> list[Outcome]:
        self.stage_begins(stage)
        outcomes = super().run(calls, stage)
        self.stage_ends(stage)
        return outcomes
