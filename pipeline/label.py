"""`seedforge label`: auto-label existing texts with the blind classifier prompt, by vote.

Runs on the run skeleton (skeleton.py) like generation: journal, resume, atomic publish.
"""

from __future__ import annotations

from pathlib import Path

from conf.domains import LoadedDomain
from generator.classify import classify_texts, label_balance, pick_shots
from generator.seeds.labeled import read_labeled
from generator.teachers.base import Teacher
from generator.verify.blind import Vote
from pipeline.labeled import run_config, seeds_artifact, teacher_plan
from pipeline.runs import RunSummary
from pipeline.skeleton import Outcome, RunContext, execute
from prompts import Record, stable_hash

STAGE = "labeling"


class LabelRun:
    """Each text classified `samples` times; the majority label is kept when confident enough."""

    needs_teacher = True
    target = 0

    def __init__(
        self, loaded: LoadedDomain, input_path: str | Path, samples: int, min_confidence: float, text_field: str
    ):
        self.loaded = loaded
        self.input_path = input_path
        self.samples = samples
        self.min_confidence = min_confidence
        self.rows = read_labeled(input_path, None, text_field=text_field, require_label=False)

    def _record(self, line: int, text: str, vote: Vote) -> Record:
        meta = {
            "source": {"file": str(self.input_path), "line": line},
            "labeling": {
                "confidence": vote.confidence,
                "votes": vote.votes,
                "request_ids": vote.request_ids,
                "samples": self.samples,
            },
        }
        record = Record(
            id=stable_hash(str(self.input_path), line, text),
            kind="classification",
            text=text,
            label=vote.label or "",
            meta=meta,
        )
        if vote.label is None:
            return record.reject(STAGE, "no_valid_label")
        if vote.confidence < self.min_confidence:
            return record.reject(
                STAGE, "low_confidence", confidence=vote.confidence, min_confidence=self.min_confidence
            )
        return record

    def run(self, ctx: RunContext) -> Outcome:
        domain = self.loaded.domain
        sampling = domain.verification.model_copy(update={"samples": self.samples}).sampling()
        shots = pick_shots(self.loaded.seeds, domain.verification.shots_per_label, domain.generation.seed)
        votes = classify_texts(
            ctx.teacher_gateway(),
            domain,
            [text for _, text, _ in self.rows],
            samples=self.samples,
            sampling=sampling,
            key="label",
            stage=STAGE,
            shots=shots,
        )
        records = [self._record(line, text, vote) for (line, text, _), vote in zip(self.rows, votes, strict=True)]
        stats = {
            "run": {
                "kind": "label",
                "input": str(self.input_path),
                "domain": domain.name,
                "samples": self.samples,
                "min_confidence": self.min_confidence,
                "shots": len(shots),
            },
            "labels": label_balance(records, dict.fromkeys(domain.label_names, 0)),
        }
        # seeds.jsonl too, so `finetune classifier` can train its seeds-only baseline on this run.
        return Outcome(records, run_config(self.loaded), stats, seeds_artifact(self.loaded))


def label_texts(
    loaded: LoadedDomain,
    input_path: str | Path,
    out_dir: str | Path,
    *,
    teacher: Teacher | None = None,
    samples: int = 3,
    min_confidence: float = 0.6,
    text_field: str = "text",
    resume: bool = True,
) -> RunSummary:
    """Auto-label existing texts with the blind classifier; low-confidence rows are rejected."""
    run = LabelRun(loaded, input_path, samples, min_confidence, text_field)
    # No token budget: labeling a given file is bounded by the file.
    plan = teacher_plan(loaded, token_budget=False, rows=len(run.rows))
    return execute(run, out_dir, plan, teacher=teacher, resume=resume)
