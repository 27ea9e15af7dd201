"""The one run skeleton: every kind of run (instruct with its modes, labeled, auto-label, re-filter)
is a small strategy run by `execute`.

`execute` owns what every run shares, in this order: start the teacher (unless one is given, and
only if the strategy needs one), lock the run directory and open its journal, live progress
(RUN_DIR/progress.json and an optional bar), the gateway every teacher call passes (bound to the
journal, so a rerun answers every seen request from disk), then the strategy, then the teacher's
stats, accounting and the atomic publish, and the teacher's shutdown in `finally`.

A strategy is what differs: which inputs it reads and checks *before* anything starts (its
constructor: a bad seed file or filter config fails before the engine starts or a file appears),
what it asks the teacher, and how it decides (`run(ctx)` -> records, stats, the config to save and
any extra artifacts).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from generator.gateway import Gateway
from generator.teachers.base import Teacher, TeacherConfigBase
from generator.teachers.executor import ExecutorConfig
from generator.teachers.registry import dump_teacher_config, make_teacher
from pipeline.progress import ObservedGateway, RunProgress
from pipeline.runs import RunSummary, finish_run, teacher_stats
from prompts import Record
from rundir.session import OpenRun, open_run

Screen = Callable[[Record], Record]


@dataclass(frozen=True)
class TeacherPlan:
    """Which teacher a run starts when none is given, and how its gateway sends requests."""

    config: TeacherConfigBase
    executor: ExecutorConfig
    seed: int
    max_attempts: int
    token_budget: int | None = None
    rows: int = 0  # the run's size, for settings left to it (`enforce_eager: auto`)


@dataclass
class Outcome:
    """What a strategy hands back to be published: every candidate (kept or rejected), the stats
    of this kind of run (the skeleton adds the teacher's), the config saved beside the rows, and
    extra artifacts (name -> bytes)."""

    records: list[Record]
    config: dict[str, Any]
    stats: dict[str, Any]
    artifacts: dict[str, bytes] = field(default_factory=dict)


class _Bar:
    """The optional `kept rows` progress bar on stderr."""

    def __init__(self, enabled: bool, total: int):
        self.tqdm: Any = None
        if enabled:
            from tqdm import tqdm

            self.tqdm = tqdm(total=total or None, desc="kept rows", unit="row", file=sys.stderr, dynamic_ncols=True)

    def advance(self, kept: int, target: int) -> None:
        if self.tqdm is not None:
            self.tqdm.total = target
            self.tqdm.update(min(kept, target) - self.tqdm.n)

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
            self.tqdm = None


@dataclass
class RunContext:
    """What a strategy gets while the run is open."""

    run: OpenRun
    teacher: Teacher | None
    gateway: Gateway | None  # None when the strategy needs no teacher
    progress: RunProgress | None  # None for runs without live progress (re-filter)
    bar: _Bar

    @property
    def out_dir(self) -> Path:
        return self.run.out_dir

    def teacher_gateway(self) -> Gateway:
        if self.gateway is None:
            raise RuntimeError("this run was opened without a teacher")
        return self.gateway

    def on_round(self, kept: int, target: int) -> None:
        """A generation round ended: progress.json and the bar follow."""
        if self.progress is not None:
            self.progress.on_round(kept, target)
        self.bar.advance(kept, target)

    def rounds_done(self) -> None:
        self.bar.close()

    def screen(self, chain: Screen) -> Screen:
        """`chain`, its rejections counted in progress.json as they happen."""
        return self.progress.screen(chain) if self.progress is not None else chain


class Strategy(Protocol):
    """One kind of run. Its constructor reads and checks the inputs; `run` does the work."""

    @property
    def target(self) -> int:
        """Rows wanted, as progress.json starts with it (0: the strategy reports it per round)."""
        ...

    @property
    def needs_teacher(self) -> bool: ...

    def run(self, ctx: RunContext) -> Outcome: ...


def _gateway(plan: TeacherPlan, teacher: Teacher, run: OpenRun, progress: RunProgress | None) -> Gateway:
    settings: dict[str, Any] = {
        "base_seed": plan.seed,
        "max_attempts": plan.max_attempts,
        "journal": run.journal,
        "token_budget": plan.token_budget,
    }
    if progress is not None:
        return ObservedGateway(progress, teacher, **settings)
    return Gateway(teacher, **settings)


def execute(
    strategy: Strategy,
    out_dir: str | Path,
    plan: TeacherPlan,
    *,
    teacher: Teacher | None = None,
    bar: bool = False,
    resume: bool = True,
    live: bool = True,
) -> RunSummary:
    """Run `strategy` on the run directory `out_dir` and publish what it decides as one version.

    `teacher`: use this one (the caller closes it); otherwise one is built from `plan` (lazily:
    a local engine starts on its first request) and closed here. `bar`: a progress bar on stderr.
    `resume=False` refuses a directory that already holds a journal. `live`: keep
    RUN_DIR/progress.json up to date.
    """
    own_teacher = teacher is None and strategy.needs_teacher
    resolved = plan.config.for_run(plan.rows)
    if own_teacher:
        teacher = make_teacher(resolved, plan.executor)
    try:
        with open_run(out_dir, resume) as run:
            progress = RunProgress(run.out_dir, strategy.target) if live else None
            gateway = None
            if teacher is not None and strategy.needs_teacher:
                gateway = _gateway(plan, teacher, run, progress)
            ctx = RunContext(run, teacher, gateway, progress, _Bar(bar, strategy.target))
            try:
                outcome = strategy.run(ctx)
            finally:
                ctx.rounds_done()
            stats, config = outcome.stats, outcome.config
            if own_teacher and "teacher" in config:
                # the engine this run started, as started: `auto` settings saved as they were decided
                config = {**config, "teacher": dump_teacher_config(resolved)}
            if gateway is not None and teacher is not None:
                stats = {**stats, "teacher": teacher_stats(gateway, teacher)}
            if progress is not None:
                progress.set(stage="publishing")
            summary = finish_run(run, outcome.records, config, stats, outcome.artifacts)
            if progress is not None:
                progress.set(stage="done", funnel=summary.funnel, version=summary.manifest["version"])
            return summary
    finally:
        if own_teacher and teacher is not None:
            teacher.close()
