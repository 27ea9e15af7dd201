"""What every generating command shares: the run directory, its lock and journal, and publishing.

A strategy only produces records; this module turns them into a crash-safe run directory:
`journal.jsonl` (every completion, appended as it arrives), then — once accounting holds — one
atomic publish of train.jsonl, rejected.jsonl, stats.json, config.yaml and manifest.json.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from generator.accounting import check_accounting
from generator.gateway import Gateway
from generator.journal import Journal, run_lock
from generator.publish import publish
from generator.teachers.base import Teacher
from generator.writers import jsonl_bytes
from prompts import Record, stable_hash
from service.logs import log_context

JOURNAL = "journal.jsonl"
log = logging.getLogger("seedforge.run")


def run_id(out_dir: Path) -> str:
    """Stable across resumes of the same run dir, so all of a run's log lines share it."""
    return stable_hash(str(out_dir.resolve()), length=12)


class RunExists(FileExistsError):
    pass


@dataclass
class RunSummary:
    out_dir: Path
    funnel: dict[str, Any]
    stats: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    out_dir: Path
    journal: Journal
    started_at: datetime
    t0: float


@contextlib.contextmanager
def open_run(out_dir: str | Path, resume: bool = True) -> Iterator[RunContext]:
    """Lock the run dir and open its journal. `resume=False` refuses to touch an existing journal."""
    out = Path(out_dir)
    if (out / JOURNAL).exists() and not resume:
        raise RunExists(f"{out} already holds a run journal; resume it (--resume) or choose a new --out")
    with run_lock(out), log_context(run_id=run_id(out)):
        journal = Journal(out / JOURNAL)
        log.info("run opened: %d journaled completions", journal.loaded, extra={"out_dir": str(out)})
        try:
            yield RunContext(out, journal, datetime.now(timezone.utc), time.perf_counter())
        finally:
            journal.close()


def teacher_stats(gateway: Gateway, teacher: Teacher) -> dict[str, Any]:
    stages = gateway.stats.values()
    out_tokens = sum(s.completion_tokens for s in stages)
    seconds = sum(s.teacher_seconds for s in stages)
    return {
        "model": teacher.model_name,
        "revision": teacher.revision,
        "endpoint": teacher.endpoint,
        "calls": gateway.teacher_calls,
        "cached": sum(s.cached for s in stages),
        "prompt_tokens": sum(s.prompt_tokens for s in stages),
        "completion_tokens": out_tokens,
        "teacher_seconds": round(seconds, 3),
        "tokens_per_second": round(out_tokens / seconds, 2) if seconds else None,
        "startup_seconds": round(float(getattr(teacher, "startup_seconds", 0.0)), 3),
        "stages": {name: s.as_dict() for name, s in gateway.stats.items()},
        # where the calls ran: the Ray pool reports replicas, losses and resent requests
        "executor": describe() if callable(describe := getattr(teacher, "describe", None)) else {"executor": "local"},
    }


def document_artifacts(
    kept: list[dict[str, Any]],
    rejected: list[dict[str, Any]],
    stats: dict[str, Any],
    config: dict[str, Any],
    run_dir: Path,
) -> dict[str, bytes]:
    """report.html and the dataset card, published with (and from) the same rows."""
    from service.card import render_card
    from service.report import render_report

    return {
        "report.html": render_report(kept, rejected, stats, config, run_dir).encode("utf-8"),
        "README.md": render_card(kept, stats, config).encode("utf-8"),
    }


def finish_run(
    ctx: RunContext,
    records: Sequence[Record],
    config: dict[str, Any],
    stats: dict[str, Any],
    extra_artifacts: dict[str, bytes] | None = None,
) -> RunSummary:
    """Check accounting, then publish every artifact of the run in one atomic step."""
    kept = [r.to_row() for r in records if not r.rejected]
    rejected = [r.to_row() for r in records if r.rejected]
    funnel = check_accounting(records, len(kept), len(rejected))
    ctx.journal.sync()
    stats = {
        **stats,
        "funnel": funnel,
        "journal": ctx.journal.summary(),
        "run": {**stats.get("run", {}), "run_id": run_id(ctx.out_dir), "started_at": ctx.started_at.isoformat()},
    }
    stats.setdefault("wall_seconds", {})["total"] = round(time.perf_counter() - ctx.t0, 3)
    artifacts = {
        **document_artifacts(kept, rejected, stats, config, ctx.out_dir),
        "train.jsonl": jsonl_bytes(kept),
        "rejected.jsonl": jsonl_bytes(rejected),
        "config.yaml": yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode(),
        "stats.json": (json.dumps(stats, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
        **(extra_artifacts or {}),
    }
    manifest = publish(ctx.out_dir, artifacts)
    log.info(
        "published version %d: kept %d of %d candidates",
        manifest["version"],
        funnel["kept"],
        funnel["candidates"],
        extra={"stage": "publish"},
    )
    return RunSummary(ctx.out_dir, funnel, stats, manifest)
