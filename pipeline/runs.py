"""What every generating command shares on top of the run directory (rundir/): the teacher's
stats, the documents published with the rows (report.html, the dataset card), and the summary a
command prints. Locking, the journal, accounting and publishing are rundir's (`OpenRun`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.gateway import Gateway
from generator.teachers.base import Teacher
from prompts import Record
from rundir.session import OpenRun


@dataclass
class RunSummary:
    out_dir: Path
    funnel: dict[str, Any]
    stats: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)


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
    kept: list[Record],
    rejected: list[Record],
    stats: dict[str, Any],
    config: dict[str, Any],
    run_dir: Path,
) -> dict[str, bytes]:
    """report.html and the dataset card, published with (and from) the same rows."""
    from outputs.card import render_card
    from outputs.report import render_report

    return {
        "report.html": render_report(kept, rejected, stats, config, run_dir).encode("utf-8"),
        "README.md": render_card(kept, stats, config).encode("utf-8"),
    }


def finish_run(
    ctx: OpenRun,
    records: Sequence[Record],
    config: dict[str, Any],
    stats: dict[str, Any],
    extra_artifacts: dict[str, bytes] | None = None,
) -> RunSummary:
    """Check accounting, then publish the rows, stats, config and documents as one version."""
    published = ctx.finish(records, config, stats, document_artifacts, extra_artifacts)
    return RunSummary(ctx.out_dir, published.funnel, published.stats, published.manifest)
