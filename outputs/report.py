"""`report.html`: a self-contained page that shows whether a dataset is diverse, balanced and clean.

Everything is computed from the run's own artifacts (rows, stats, config, student metrics), so the
report can be regenerated at any time with `seedforge report RUN_DIR`; generation writes it too.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from outputs import report_plots as plots
from prompts import Record

TEMPLATES = Path(__file__).parent / "templates"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=jinja2.StrictUndefined
)
SAMPLES_PER_STATUS = 60


def _words(text: str) -> int:
    return len(text.split())


def _first_word(text: str) -> str:
    match = re.match(r"\s*([A-Za-z']+)", text)
    return match.group(1).lower() if match else "(other)"


def _rouge_scores(records: Sequence[Record]) -> list[float]:
    out = []
    for record in records:
        entry = record.meta.get("filters", {}).get("rouge_l")
        score = entry.get("score") if isinstance(entry, dict) else entry
        if isinstance(score, (int, float)):
            out.append(float(score))
    return out


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in {"confusion_matrix", "per_class", "model", "config", "labels", "log_history"}:
                continue
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append((prefix, round(value, 4) if isinstance(value, float) else value))


def _is_value_report(metrics: dict[str, Any]) -> bool:
    return isinstance(metrics.get("baselines"), dict) and "recipe" in (metrics.get("student") or {})


def _ci(entry: dict[str, float]) -> dict[str, str]:
    return {"estimate": f"{entry['estimate']:.3f}", "interval": f"[{entry['low']:.3f}, {entry['high']:.3f}]"}


def value_sections(run_dir: Path | None) -> list[dict[str, Any]]:
    """`finetune classifier` value tables: student vs each baseline with intervals, per-label recall."""
    if run_dir is None:
        return []
    sections = []
    for path in sorted(run_dir.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        if not _is_value_report(metrics):
            continue
        comparisons = (metrics.get("value") or {}).get("comparisons", {})
        models = [(f"student ({metrics['student']['recipe']})", metrics["student"], None)]
        models += [(name, entry, comparisons.get(name)) for name, entry in metrics["baselines"].items()]
        rows = []
        for name, entry, diff in models:
            test = entry.get("test")
            rows.append(
                {
                    "name": name,
                    "train_rows": entry.get("train_rows", ""),
                    "accuracy": _ci(test["intervals"]["accuracy"]) if test else None,
                    "macro_f1": _ci(test["intervals"]["macro_f1"]) if test else None,
                    "diff_accuracy": _ci(diff["accuracy"]) if diff else None,
                    "diff_macro_f1": _ci(diff["macro_f1"]) if diff else None,
                    "recall": [f"{test['per_label_recall'][la]:.2f}" for la in metrics["labels"]] if test else [],
                }
            )
        value = metrics.get("value") or {}
        sections.append(
            {
                "name": path.parent.name,
                "labels": metrics["labels"],
                "rows": rows,
                "test_rows": metrics.get("rows", {}).get("test", 0),
                "best_seeds_only": value.get("best_seeds_only"),
                "degenerate": value.get("degenerate") or {},
                "selection": metrics.get("selection") or {},
            }
        )
    return sections


def student_sections(run_dir: Path | None) -> list[dict[str, Any]]:
    """Numeric metrics of every other student trained from this run (RUN_DIR/*/metrics.json)."""
    if run_dir is None:
        return []
    sections = []
    for path in sorted(run_dir.glob("*/metrics.json")):
        rows: list[tuple[str, Any]] = []
        metrics = json.loads(path.read_text())
        if _is_value_report(metrics):
            continue
        _flatten("", metrics, rows)
        if rows:
            sections.append({"name": path.parent.name, "rows": rows[:80]})
    return sections


def _status(record: Record) -> str:
    return "kept" if record.rejection is None else f"{record.rejection.stage}/{record.rejection.reason}"


def _samples(
    kept: Sequence[Record], rejected: Sequence[Record], columns: list[str], seed: int = 0
) -> tuple[list[dict[str, Any]], list[str]]:
    """Up to N kept rows, and rejected rows covering every reason before repeating any."""
    rng = random.Random(seed)
    chosen = rng.sample(list(kept), min(SAMPLES_PER_STATUS, len(kept)))
    by_reason: dict[str, list[Record]] = {}
    for record in rejected:
        by_reason.setdefault(_status(record), []).append(record)
    picked: list[Record] = []
    while len(picked) < SAMPLES_PER_STATUS and any(by_reason.values()):
        for group in by_reason.values():
            if group and len(picked) < SAMPLES_PER_STATUS:
                picked.append(group.pop(rng.randrange(len(group))))
    out = [{"status": _status(r), **{c: str(getattr(r, c)) for c in columns}} for r in chosen + picked]
    return out, sorted({r["status"] for r in out if r["status"] != "kept"})


def render_report(
    kept: Sequence[Record],
    rejected: Sequence[Record],
    stats: dict[str, Any],
    config: dict[str, Any],
    run_dir: Path | None = None,
) -> str:
    classification = config.get("kind") == "classify"
    everything = [*kept, *rejected]
    if classification:
        lengths = {"text (words)": [_words(r.text) for r in kept]}
        columns = ["label", "text"]
        first = Counter(_first_word(r.text) for r in kept)
    else:
        lengths = {name: [_words(getattr(r, name)) for r in kept] for name in ("instruction", "input", "output")}
        lengths["input"] = [n for n in lengths["input"] if n]  # most rows have no input
        columns = ["instruction", "input", "output"]
        first = Counter(_first_word(r.instruction) for r in kept)
    figures: dict[str, str | None] = {
        "funnel": plots.funnel_chart(stats["funnel"]),
        "lengths": plots.histograms(lengths, "words", "Length of kept rows"),
        "first_words": plots.top_counts(first.most_common(20) or [("(no rows)", 0)], "Top first words of kept rows"),
        "labels": None,
        "rouge": None,
    }
    labels = stats.get("labels") or {}
    if classification and labels:
        names = list(labels)
        figures["labels"] = plots.bars(
            names,
            {"target": [labels[n]["target"] for n in names], "kept": [labels[n]["kept"] for n in names]},
            "Kept rows per label vs target",
            "rows",
        )
    near_dups = [r for r in rejected if r.rejection is not None and r.rejection.reason == "rouge_l_near_duplicate"]
    if _rouge_scores(everything):
        figures["rouge"] = plots.histograms(
            {"kept": _rouge_scores(kept), "rejected as near-duplicate": _rouge_scores(near_dups)},
            "ROUGE-L F1 to the most similar earlier row",
            "Similarity to seeds and earlier rows",
        )
    teacher = stats.get("teacher", {})
    stages = teacher.get("stages", {})
    figures["throughput"] = plots.bars(
        list(stages) or ["(none)"],
        {"tokens/s": [s.get("tokens_per_second") or 0 for s in stages.values()] or [0]},
        "Teacher output tokens per second, by stage",
        "tokens/s",
    )
    samples, reasons = _samples(kept, rejected, columns)
    run = stats.get("run", {})
    page = _ENV.get_template("report.html.j2").render(
        title=str(config.get("name") or run.get("seed_file") or (run_dir.name if run_dir else "run")),
        run_id=run.get("run_id", "-"),
        kind="classification" if classification else "instructions",
        teacher={
            "model": "-",
            "revision": "-",
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "tokens_per_second": "-",
            **teacher,
            "stages": stages,
        },
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        funnel=stats["funnel"],
        wall_total=stats.get("wall_seconds", {}).get("total", "-"),
        stopped=run.get("stopped") if run.get("stopped") not in (None, "target") else None,
        plots=figures,
        labels=labels if classification else {},
        students=student_sections(run_dir),
        values=value_sections(run_dir),
        samples=samples,
        sample_columns=columns,
        sample_reasons=reasons,
        sample_note=f"up to {SAMPLES_PER_STATUS} kept, and rejected rows covering every reason",
    )
    return str(page)
