"""`seedforge label`: auto-label existing texts with the blind classifier prompt, by vote.

Runs through the same crash-safe run directory as generation (journal, resume, atomic publish).
"""

from __future__ import annotations

from pathlib import Path

from conf.domains import LoadedDomain
from generator.classify import classify_texts, label_balance, pick_shots
from generator.seeds.labeled import read_labeled
from generator.teachers.base import Teacher
from generator.teachers.registry import make_teacher
from pipeline.labeled import run_config, seed_rows
from pipeline.progress import ObservedGateway, RunProgress
from pipeline.runs import RunSummary, finish_run, teacher_stats
from prompts import Record, stable_hash
from rundir.codec import encode_rows
from rundir.session import open_run


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
    rows = read_labeled(input_path, None, text_field=text_field, require_label=False)
    domain = loaded.domain
    own_teacher = teacher is None
    teacher = teacher or make_teacher(domain.teacher, domain.executor)
    try:
        with open_run(out_dir, resume) as run:
            live = RunProgress(run.out_dir, 0)
            gateway = ObservedGateway(
                live,
                teacher,
                base_seed=domain.generation.seed,
                max_attempts=domain.generation.max_attempts,
                journal=run.journal,
            )
            sampling = domain.verification.model_copy(update={"samples": samples}).sampling()
            shots = pick_shots(loaded.seeds, domain.verification.shots_per_label, domain.generation.seed)
            votes = classify_texts(
                gateway,
                domain,
                [text for _, text, _ in rows],
                samples=samples,
                sampling=sampling,
                key="label",
                stage="labeling",
                shots=shots,
            )
            records = []
            for (line, text, _), vote in zip(rows, votes, strict=True):
                meta = {
                    "source": {"file": str(input_path), "line": line},
                    "labeling": {
                        "confidence": vote.confidence,
                        "votes": vote.votes,
                        "request_ids": vote.request_ids,
                        "samples": samples,
                    },
                }
                record = Record(
                    id=stable_hash(str(input_path), line, text),
                    kind="classification",
                    text=text,
                    label=vote.label or "",
                    meta=meta,
                )
                if vote.label is None:
                    record = record.reject("labeling", "no_valid_label")
                elif vote.confidence < min_confidence:
                    record = record.reject(
                        "labeling", "low_confidence", confidence=vote.confidence, min_confidence=min_confidence
                    )
                records.append(record)
            stats = {
                "run": {
                    "kind": "label",
                    "input": str(input_path),
                    "domain": domain.name,
                    "samples": samples,
                    "min_confidence": min_confidence,
                    "shots": len(shots),
                },
                "labels": label_balance(records, dict.fromkeys(domain.label_names, 0)),
                "teacher": teacher_stats(gateway, teacher),
            }
            # seeds.jsonl too, so `finetune classifier` can train its seeds-only baseline on this run.
            extra = {"seeds.jsonl": encode_rows(seed_rows(loaded))}
            live.set(stage="publishing")
            summary = finish_run(run, records, run_config(loaded), stats, extra)
            live.set(stage="done", funnel=summary.funnel, version=summary.manifest["version"])
            return summary
    finally:
        if own_teacher:
            teacher.close()
