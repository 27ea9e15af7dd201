"""`finetune classifier`: train the classifier student on a labeled run, with its baselines.

Three numbers side by side answer "was the synthetic data worth it?": the student trained on the
run's kept rows, the same student trained on the seed examples alone, and the teacher's own
zero-shot accuracy (blind classifier prompt, greedy guided choice) on the user's test file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from finetune.classifier import classification_metrics as metrics_of
from finetune.classifier import evaluate_classifier, stratified_split, train_classifier
from finetune.classifier_config import ClassifierConfig
from generator.backends import build_teacher
from generator.classify import classify_texts, pick_shots
from generator.gateway import Gateway
from generator.labeled_seeds import read_labeled
from generator.models import embedded_encoder_dir
from generator.teacher import SamplingConfig, Teacher
from generator.writers import read_jsonl, write_json, write_yaml
from service.domains import ClassifyDomain
from service.yamlconf import ConfigError


def load_labeled_run(run_dir: Path) -> tuple[ClassifyDomain, list[tuple[str, str]]]:
    train_path, config_path = run_dir / "train.jsonl", run_dir / "config.yaml"
    if not train_path.is_file() or not config_path.is_file():
        raise ConfigError(f"{run_dir}: no train.jsonl/config.yaml — not a Seedforge run directory")
    config = yaml.safe_load(config_path.read_text()) or {}
    if config.get("kind") != "classify":
        raise ConfigError(f"{config_path}: kind is {config.get('kind', 'instruct')!r}, not a classification run")
    config.pop("domain_file", None)
    domain = ClassifyDomain.model_validate(config)
    rows = []
    for line, row in enumerate(read_jsonl(train_path), start=1):
        if row.get("label") not in domain.label_names:
            raise ConfigError(f"{train_path}:{line}: field 'label': {row.get('label')!r} is not a label of the run")
        rows.append((row["text"], row["label"]))
    if not rows:
        raise ConfigError(f"{train_path}: no kept rows to train on")
    return domain, rows


def _seed_rows(run_dir: Path) -> list[tuple[str, str]]:
    path = run_dir / "seeds.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path}: missing — the baselines need the run's seed examples (or pass --no-seeds-baseline)")
    return [(r["text"], r["label"]) for r in read_jsonl(path)]


def finetune_classifier(
    run_dir: str | Path,
    *,
    test_file: str | Path | None = None,
    out_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    teacher: Teacher | None = None,
    seeds_baseline: bool = True,
    teacher_baseline: bool = True,
) -> dict[str, Any]:
    run_dir = Path(run_dir)
    domain, rows = load_labeled_run(run_dir)
    config = ClassifierConfig.model_validate({**domain.student.model_dump(), **(overrides or {})})
    labels = domain.label_names
    test = [(text, label) for _, text, label in read_labeled(test_file, labels)] if test_file else []
    base_model = config.student or str(embedded_encoder_dir())
    out = Path(out_dir) if out_dir else run_dir / "classifier"
    train, validation = stratified_split(rows, config.validation_fraction, config.seed)
    seed_rows = _seed_rows(run_dir) if seeds_baseline or (teacher_baseline and test) else []

    def report(model_dir: Path, val_metrics: dict[str, Any] | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"model": str(model_dir), "validation": val_metrics}
        entry["test"] = evaluate_classifier(model_dir, test, labels, config) if test else None
        return entry

    student = train_classifier(train, validation, labels, base_model, out / "student", config)
    metrics: dict[str, Any] = {
        "labels": labels,
        "base_model": base_model,
        "rows": {"train": len(train), "validation": len(validation), "test": len(test)},
        "student": report(student.model_dir, student.validation),
    }
    if seeds_baseline:
        # Same student, same validation rows for early stopping: only the training data differs.
        seeds_only = train_classifier(seed_rows, validation, labels, base_model, out / "seeds_only", config)
        metrics["seeds_only"] = {**report(seeds_only.model_dir, seeds_only.validation), "train_rows": len(seed_rows)}
    if teacher_baseline and test:
        seeds: dict[str, list[str]] = {}
        for text, label in seed_rows:
            seeds.setdefault(label, []).append(text)
        shots = pick_shots(seeds, domain.verification.shots_per_label, domain.generation.seed)
        zero, few = teacher_accuracy(domain, test, teacher, [[], shots])
        metrics["teacher_zero_shot"] = {"test": zero}
        # The prompt verification used (seed demonstrations as turns), for reference.
        metrics["teacher_few_shot"] = {"test": few, "shots": len(shots)}
    write_json(out / "metrics.json", metrics)
    write_yaml(
        out / "config.yaml",
        {
            "student": config.model_dump(mode="json"),
            "run_dir": str(run_dir),
            "test_file": str(test_file) if test_file else None,
        },
    )
    return metrics


def teacher_accuracy(
    domain: ClassifyDomain,
    rows: list[tuple[str, str]],
    teacher: Teacher | None,
    shot_sets: list[list[tuple[str, str]]],
) -> list[dict[str, Any]]:
    """The teacher as a classifier (greedy guided choice), once per set of demonstrations."""
    own = teacher is None
    teacher = teacher or build_teacher(domain.teacher)
    try:
        gateway = Gateway(teacher, base_seed=domain.generation.seed)
        greedy = SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=domain.verification.max_tokens)
        results = []
        for i, shots in enumerate(shot_sets):
            votes = classify_texts(
                gateway,
                domain,
                [t for t, _ in rows],
                samples=1,
                sampling=greedy,
                key=f"teacher-eval/{i}",
                stage="teacher_eval",
                shots=shots,
            )
            results.append(metrics_of([label for _, label in rows], [v.label for v in votes], domain.label_names))
        return results
    finally:
        if own:
            teacher.close()


def summary_table(metrics: dict[str, Any]) -> str:
    lines = [f"{'model':<20} {'split':<11} {'accuracy':>9} {'macro-F1':>9}"]
    for name in ("student", "seeds_only", "teacher_zero_shot", "teacher_few_shot"):
        for split in ("validation", "test"):
            m = (metrics.get(name) or {}).get(split)
            if m:
                lines.append(f"{name:<20} {split:<11} {m['accuracy']:>9.3f} {m['macro_f1']:>9.3f}")
    return "\n".join(lines)
