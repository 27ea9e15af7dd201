"""`finetune classifier`: train the classifier student on a labeled run and report its value.

"Was the synthetic data worth it?" is answered on the user's --test file by the student (the run's
kept rows plus its seed examples, which are human-labeled) against the baselines a user could have
had without generating anything: a student trained on the seeds alone, with every recipe, and the
teacher itself as a classifier. Every number has a 95% bootstrap interval and every difference a
paired one. Do no harm: if the best seeds-only student beats the student on the data that can
check it (--test, or cross-validation folds of the seeds), that model is the one handed over.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from conf.domains import ClassifyDomain
from conf.yamlconf import ConfigError, deep_merge
from finetune.classifier_config import ClassifierConfig
from finetune.metrics import classification_metrics as metrics_of
from finetune.metrics import evaluate_predictions
from finetune.students import RECIPES, fit_student
from generator.classify import classify_texts, pick_shots
from generator.gateway import Gateway
from generator.seeds.labeled import read_labeled
from generator.teachers.base import SamplingConfig, Teacher
from generator.teachers.models import embedded_encoder_dir
from generator.teachers.registry import build_teacher
from generator.verify.calibrated import calibrated_labels
from pipeline.classify_value import (
    Baseline,
    SelectOn,
    choose_model,
    select_on_seeds,
    summary_table,
    value_section,
)
from rundir import RunDir, RunVersion
from rundir.writers import read_jsonl, write_json, write_yaml

__all__ = ["finetune_classifier", "summary_table", "teacher_accuracy"]
Rows = list[tuple[str, str]]


class NotEnoughRows(ConfigError):
    """The kept rows cannot train a classifier worth handing over; raised before any training."""


def load_labeled_run(run_dir: Path) -> tuple[RunVersion, ClassifyDomain, Rows]:
    """The run's published version (one, for every file read), its domain and kept rows."""
    version = RunDir(run_dir).read()
    config = version.read_yaml("config.yaml") or {}
    if config.get("kind") != "classify":
        raise ConfigError(
            f"{run_dir}/config.yaml: kind is {config.get('kind', 'instruct')!r}, not a classification run"
        )
    config.pop("domain_file", None)
    domain = ClassifyDomain.model_validate(config)
    rows = []
    for line, record in enumerate(version.records("train.jsonl"), start=1):
        if record.label not in domain.label_names:
            raise ConfigError(
                f"{run_dir}/train.jsonl:{line}: field 'label': {record.label!r} is not a label of the run"
            )
        rows.append((record.text, record.label))
    return version, domain, rows


def _seed_rows(version: RunVersion) -> Rows:
    if not version.has("seeds.jsonl"):
        raise ConfigError(
            f"{version.run_dir}/seeds.jsonl: missing — the student trains on the run's seed examples and its "
            "baselines need them"
        )
    return [(row["text"], row["label"]) for row in read_jsonl(version.file("seeds.jsonl"))]


def check_trainable(rows: Rows, labels: list[str], min_rows_per_label: int, where: str) -> None:
    counts = {label: sum(1 for _, lab in rows if lab == label) for label in labels}
    present = [label for label in labels if counts[label]]
    if len(present) < 2:
        raise NotEnoughRows(
            f"{where}: the kept rows cover {len(present)} label(s) {present}; a classifier needs at least two "
            f"(counts: {counts})"
        )
    short = {label: n for label, n in counts.items() if n < min_rows_per_label}
    if short:
        listed = ", ".join(f"{label!r} has {n}" for label, n in short.items())
        raise NotEnoughRows(
            f"{where}: {listed} kept row(s), fewer than min_rows_per_label={min_rows_per_label}; generate more "
            "for that label (or lower student.min_rows_per_label / --min-rows-per-label)"
        )


def finetune_classifier(
    run_dir: str | Path,
    *,
    test_file: str | Path | None = None,
    out_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    teacher: Teacher | None = None,
    seeds_baseline: bool = True,
    teacher_baseline: bool = True,
    select_on: SelectOn | None = None,
) -> dict[str, Any]:
    run_dir = Path(run_dir)
    version, domain, generated = load_labeled_run(run_dir)
    config = ClassifierConfig.model_validate(deep_merge(domain.student.model_dump(), overrides or {}))
    labels = domain.label_names
    check_trainable(generated, labels, config.min_rows_per_label, str(run_dir / "train.jsonl"))
    seeds = _seed_rows(version)
    test = [(text, label) for _, text, label in read_labeled(test_file, labels)] if test_file else []
    select_on = select_on or ("test" if test else "seeds")
    if select_on == "test" and not test:
        raise ConfigError("--select-on test needs --test FILE")
    encoder = config.student or str(embedded_encoder_dir())
    out = Path(out_dir) if out_dir else run_dir / "classifier"
    texts, truth = [t for t, _ in test], [label for _, label in test]

    def evaluate(predicted: list[str | None]) -> dict[str, Any] | None:
        return evaluate_predictions(truth, predicted, labels, seed=config.seed) if test else None

    out.mkdir(parents=True, exist_ok=True)
    # The seeds are human-labeled rows of the same task: the student trains on them too.
    student = fit_student(generated + seeds, labels, encoder, config, work_dir=out)
    student.save(out / "student")
    predictions: dict[str, list[str | None]] = {"student": list(student.predict(texts))}
    metrics: dict[str, Any] = {
        "labels": labels,
        "encoder": encoder,
        "rows": {"generated": len(generated), "seeds": len(seeds), "test": len(test)},
        "student": {
            "recipe": config.recipe,
            "train_rows": len(generated) + len(seeds),
            "trained_on": "kept rows + seed examples",
            "fit": student.info,
            "model": str(out / "student"),
            "test": evaluate(predictions["student"]),
        },
        "baselines": {},
    }
    baselines: list[Baseline] = []
    if seeds_baseline:
        for recipe in RECIPES:
            model = fit_student(seeds, labels, encoder, config, recipe=recipe, work_dir=out)
            path = model.save(out / "seeds_only" / recipe)
            baselines.append(
                Baseline(f"seeds_only/{recipe}", "seeds_only", list(model.predict(texts)), {"recipe": recipe})
            )
            metrics["baselines"][f"seeds_only/{recipe}"] = {"model": str(path), "train_rows": len(seeds)}
    if teacher_baseline and test:
        baselines += teacher_baselines(domain, test, teacher, seeds)
    for baseline in baselines:
        entry = metrics["baselines"].setdefault(baseline.name, {})
        entry.update({"kind": baseline.kind, **baseline.detail, "test": evaluate(baseline.predictions)})
    if test:
        metrics["value"] = value_section(truth, predictions["student"], baselines, labels, metrics, config.seed)
    selection: dict[str, Any]
    if not seeds_baseline:
        selection = {
            "on": None,
            "selected": "student",
            "reason": "no seeds-only baseline was trained (--no-seeds-baseline)",
        }
    elif select_on == "test":
        selection = choose_model(metrics, baselines, "test", config.handover_confidence)
    else:
        selection = select_on_seeds(generated, seeds, labels, encoder, config, out)
    handed = out / "model"
    source = out / "student" if selection["selected"] == "student" else out / selection["selected"]
    shutil.rmtree(handed, ignore_errors=True)
    shutil.copytree(source, handed)
    metrics["selection"] = {**selection, "handed_over": str(handed)}
    write_json(out / "metrics.json", metrics)
    write_yaml(
        out / "config.yaml",
        {
            "student": config.model_dump(mode="json"),
            "encoder": encoder,
            "run_dir": str(run_dir),
            "test_file": str(test_file) if test_file else None,
            "select_on": select_on,
        },
    )
    return metrics


def teacher_baselines(domain: ClassifyDomain, test: Rows, teacher: Teacher | None, seeds: Rows) -> list[Baseline]:
    """The teacher as a classifier, one named entry per way of asking it; add a way here."""
    by_label: dict[str, list[str]] = {}
    for text, label in seeds:
        by_label.setdefault(label, []).append(text)
    shots = pick_shots(by_label, domain.verification.shots_per_label, domain.generation.seed)
    zero, few, zero_cal, few_cal = teacher_predictions(domain, test, teacher, [[], shots], calibrated=True)
    return [
        Baseline("teacher/zero_shot", "teacher", zero, {}),
        # The prompt verification used (seed demonstrations as turns), for reference.
        Baseline("teacher/few_shot", "teacher", few, {"shots": len(shots)}),
        # The same prompts read as label probabilities and divided by the content-free prior.
        Baseline("teacher/zero_shot_calibrated", "teacher", zero_cal, {"prior": "content_free"}),
        Baseline("teacher/few_shot_calibrated", "teacher", few_cal, {"shots": len(shots), "prior": "content_free"}),
    ]


def teacher_predictions(
    domain: ClassifyDomain,
    rows: Rows,
    teacher: Teacher | None,
    shot_sets: list[list[tuple[str, str]]],
    calibrated: bool = False,
) -> list[list[str | None]]:
    """The teacher's labels (greedy guided choice), once per set of demonstrations; with
    `calibrated`, then once more per set as a calibrated classifier (label logprobs / prior)."""
    own = teacher is None
    teacher = teacher or build_teacher(domain.teacher.for_run(len(rows)))
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
            results.append([v.label for v in votes])
        if calibrated:
            texts = [t for t, _ in rows]
            for i, shots in enumerate(shot_sets):
                results.append(
                    calibrated_labels(gateway, domain, texts, shots, key=f"teacher-cal/{i}", stage="teacher_eval")
                )
        return results
    finally:
        if own:
            teacher.close()


def teacher_accuracy(
    domain: ClassifyDomain, rows: Rows, teacher: Teacher | None, shot_sets: list[list[tuple[str, str]]]
) -> list[dict[str, Any]]:
    """The teacher's metrics on `rows`, once per set of demonstrations."""
    truth = [label for _, label in rows]
    return [metrics_of(truth, p, domain.label_names) for p in teacher_predictions(domain, rows, teacher, shot_sets)]
