"""Labeled pairs: `generate --domain` for classification domains (auto-labeling is label.py).

Both run through the same crash-safe run directory as instruction generation (journal, resume,
atomic publish) and the same blind classifier prompt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conf.domains import LoadedDomain
from filters import build_chain
from generator.classify import LabeledGenerator, LabeledResult, label_balance
from generator.label_guard import Lag
from generator.teachers.base import Teacher
from generator.verify import Embed
from pipeline.runs import RunSummary
from pipeline.skeleton import Outcome, RunContext, TeacherPlan, execute
from prompts import Record
from rundir.codec import encode_rows

TEXT_FILTER_STAGE = "text_filter"
log = logging.getLogger("seedforge.run")


class QuotaShortfall(RuntimeError):
    """A label missed its quota by more than `targets.max_shortfall`. The run was published (the
    rows are not lost) but must not pass for a usable dataset: the caller exits non-zero."""

    def __init__(self, summary: RunSummary, lags: list[Lag], max_shortfall: float):
        self.summary = summary
        self.lags = lags
        names = ", ".join(repr(lag.label) for lag in lags)
        super().__init__(f"label(s) {names} missed their quota by more than {max_shortfall:.0%}")

    def explain(self) -> str:
        lines = [str(self)]
        lines += [f"  {lag.message()}" for lag in self.lags]
        lines.append(f"The rows are published in {self.summary.out_dir}; fix the cause and rerun the same command.")
        return "\n".join(lines)


def encoder_embed(domain: Any) -> Embed | None:
    """The sentence encoder confident learning needs (the embedded MiniLM unless one is named)."""
    verification = domain.verification
    wanted = {verification.method, *(verification.members if verification.method == "ensemble" else ())}
    if not verification.enabled or "confident_learning" not in wanted:
        return None
    from filters.embeddings import embed
    from generator.teachers.models import embedded_encoder_dir

    model_dir = verification.encoder or str(embedded_encoder_dir())

    def vectors(texts: Sequence[str]) -> np.ndarray:
        return embed(model_dir, texts)

    return vectors


def seed_rows(loaded: LoadedDomain) -> list[dict[str, str]]:
    return [{"text": text, "label": label} for label, texts in loaded.seeds.items() for text in texts]


def seeds_artifact(loaded: LoadedDomain) -> dict[str, bytes]:
    """seeds.jsonl, published beside the rows: `finetune classifier` trains its seeds-only
    baseline on it."""
    return {"seeds.jsonl": encode_rows(seed_rows(loaded))}


def run_config(loaded: LoadedDomain) -> dict[str, Any]:
    """The resolved domain, as saved in the run dir (seeds are saved beside it as seeds.jsonl)."""
    return {"kind": "classify", "domain_file": str(loaded.path), **loaded.domain.model_dump(mode="json")}


def teacher_plan(loaded: LoadedDomain, token_budget: bool = True, rows: int | None = None) -> TeacherPlan:
    """`rows`: the run's size (default: the domain's label quotas)."""
    domain = loaded.domain
    gen = domain.generation
    budget = gen.max_tokens_budget if token_budget else None
    if rows is None:
        rows = sum(domain.targets_for({label: len(texts) for label, texts in loaded.seeds.items()}).values())
    return TeacherPlan(domain.teacher, domain.executor, gen.seed, gen.max_attempts, budget, rows=rows)


class LabeledRun:
    """Texts per label from the teacher, verified (verify/), filtered, guarded per label."""

    needs_teacher = True
    target = 0  # per-label targets are known once the generator starts; it reports them per round

    def __init__(self, loaded: LoadedDomain, embed: Embed | None = None):
        self.loaded = loaded
        self.embed = embed
        self.result: LabeledResult | None = None

    def run(self, ctx: RunContext) -> Outcome:
        loaded, domain = self.loaded, self.loaded.domain
        primed = [
            Record(id=f"seed-{i}", kind="classification", text=row["text"], label=row["label"])
            for i, row in enumerate(seed_rows(loaded))
        ]
        chain = build_chain(TEXT_FILTER_STAGE, domain.filter_specs(), primed)

        def on_lag(lag: Lag) -> None:
            log.warning(lag.message(), extra={"stage": "texts"})
            if ctx.progress is not None:
                ctx.progress.state.setdefault("lagging", {})[lag.label] = lag.message()
                ctx.progress.flush(force=True)

        t_gen = time.perf_counter()
        result = LabeledGenerator(
            domain,
            loaded.seeds,
            ctx.teacher_gateway(),
            ctx.screen(chain),
            ctx.on_round,
            embed=self.embed or encoder_embed(domain),
            on_lag=on_lag,
        ).run()
        ctx.rounds_done()
        self.result = result
        balance = label_balance(result.records, result.targets)
        stats = {
            "run": {
                "kind": "classify",
                "domain": domain.name,
                "domain_file": str(loaded.path),
                "rounds": result.rounds,
                "stopped": result.stopped,
                "targets": result.targets,
                "target_met": all(entry["shortfall"] == 0 for entry in balance.values()),
                "shortfall": {label: e["shortfall"] for label, e in balance.items() if e["shortfall"]},
            },
            "labels": balance,
            "verification": {
                "enabled": domain.verification.enabled,
                "method": domain.verification.method,
                **(result.facts or {}),
                "labels": result.guard.summary() if result.guard else {},
            },
            "wall_seconds": {
                "generation": round(time.perf_counter() - t_gen, 3),
                TEXT_FILTER_STAGE: round(chain.seconds, 3),
            },
        }
        return Outcome(result.records, run_config(loaded), stats, seeds_artifact(loaded))

    def shortfalls(self) -> list[Lag]:
        """Labels more than `targets.max_shortfall` short (after the run)."""
        guard = self.result.guard if self.result is not None else None
        return guard.shortfalls(self.loaded.domain.targets.max_shortfall) if guard else []


def generate_labeled(
    loaded: LoadedDomain,
    out_dir: str | Path,
    teacher: Teacher | None = None,
    progress: bool = False,
    resume: bool = True,
    embed: Embed | None = None,
) -> RunSummary:
    """Generate, verify, filter and publish a labeled run; QuotaShortfall (after publishing) when
    a label ends more than `targets.max_shortfall` short. `embed` overrides the default encoder."""
    run = LabeledRun(loaded, embed)
    summary = execute(run, out_dir, teacher_plan(loaded), teacher=teacher, bar=progress, resume=resume)
    short = run.shortfalls()
    if short:
        raise QuotaShortfall(summary, short, loaded.domain.targets.max_shortfall)
    return summary
