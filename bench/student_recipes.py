"""Which classifier student recipe, from 20 to 2,000 training rows? The measurement behind the default.

Per dev file: a fixed stratified slice of --eval-rows is held out; every recipe is trained on
stratified samples of each size drawn from the rest (--seeds samples for sizes up to --small, one
above) and scored on the slice: accuracy and macro-F1 with 95% bootstrap intervals (averaged over
sampling seeds; `sd` is the spread over seeds) and training seconds. Dev files only: a path named
test.jsonl is refused, test sets are for reporting, never for choosing.

The last line is `ratio: X` = accuracy of the default recipe / accuracy of the best other recipe,
averaged over every (set, size) cell that has every recipe. Each trained model is one JSON line
on stdout (and in --out); `--table FILE` rebuilds the table from such files without training.

    flock /tmp/seedforge-heavy.lock .venv/bin/python bench/student_recipes.py \
        bench/data/sentiment/dev.jsonl bench/data/snips/dev.jsonl [--sizes 20,50,100] [--out results.jsonl]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = (20, 50, 100, 200, 500, 1000, 2000)


def read_rows(path: Path) -> list[tuple[str, str]]:
    return [(r["text"], r["label"]) for r in map(json.loads, path.read_text().splitlines()) if r]


def stratified_sample(rows: list[tuple[str, str]], n: int, seed: int) -> list[tuple[str, str]]:
    """n rows in the pool's label proportions, at least two per label when n allows."""
    rng = random.Random(seed)
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    labels = sorted(by_label)
    floor = 2 if n >= 2 * len(labels) else 1
    quota = {label: max(floor, round(n * len(by_label[label]) / len(rows))) for label in labels}
    while sum(quota.values()) > n:  # rounding and floors can overshoot: trim the largest
        quota[max(labels, key=lambda la: (quota[la], la))] -= 1
    while sum(quota.values()) < n:
        quota[max(labels, key=lambda la: (len(by_label[la]) - quota[la], la))] += 1
    out = []
    for label in labels:
        out += rng.sample(by_label[label], min(quota[label], len(by_label[label])))
    rng.shuffle(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dev_files", nargs="*", type=Path)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--recipes", default="", help="comma-separated subset (default: every recipe)")
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds for small sizes")
    parser.add_argument("--small", type=int, default=50, help="sizes up to this get --seeds samples, larger one")
    parser.add_argument("--eval-rows", type=int, default=600)
    parser.add_argument("--out", type=Path, help="append one JSON line per trained model")
    parser.add_argument(
        "--override", default="{}", help='ClassifierConfig overrides as JSON, e.g. {"setfit": {"max_steps": 500}}'
    )
    parser.add_argument(
        "--tag", default="", help="e.g. @steps500: appended to the recipe name; tagged rows are shown, not ranked"
    )
    parser.add_argument("--table", type=Path, action="append", default=[], help="print the table of saved --out files")
    args = parser.parse_args()

    from finetune.classifier_config import DEFAULT_RECIPE

    records = [json.loads(line) for path in args.table for line in path.read_text().splitlines() if line]
    if args.dev_files:
        records += train_grid(args)
    print_table(records, DEFAULT_RECIPE)


def train_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    from finetune.classifier_config import ClassifierConfig
    from finetune.metrics import evaluate_predictions
    from finetune.students import RECIPES, fit_student
    from generator.teachers.models import embedded_encoder_dir

    for path in args.dev_files:
        if path.name == "test.jsonl":
            sys.exit(f"{path}: a test file; choose recipes on dev files only")
    encoder = str(embedded_encoder_dir())
    recipes = [r for r in args.recipes.split(",") if r] or list(RECIPES)
    config = ClassifierConfig.model_validate(json.loads(args.override))
    records = []
    for path in args.dev_files:
        rows = read_rows(path)
        labels = sorted({label for _, label in rows})
        held = stratified_sample(rows, min(args.eval_rows, len(rows) // 2 - 10), seed=12345)
        held_texts = {t for t, _ in held}
        pool = [r for r in rows if r[0] not in held_texts]
        for size in (int(s) for s in args.sizes.split(",")):
            if size > len(pool):
                print(f"{path}: {size} > the {len(pool)} rows outside the evaluation slice; skipped", flush=True)
                continue
            for recipe in recipes:
                for seed in range(args.seeds if size <= args.small else 1):
                    train = stratified_sample(pool, size, seed)
                    started = time.perf_counter()
                    with tempfile.TemporaryDirectory() as work:
                        student = fit_student(train, labels, encoder, config, recipe=recipe, work_dir=work)
                        seconds = time.perf_counter() - started
                        predicted = student.predict([t for t, _ in held])
                    m = evaluate_predictions([label for _, label in held], predicted, labels, seed=seed)
                    record = {
                        "set": path.parent.name or path.stem,
                        "eval_rows": len(held),
                        "size": size,
                        "recipe": recipe + args.tag,
                        "seed": seed,
                        "seconds": round(seconds, 1),
                        "intervals": m["intervals"],
                        "fit": student.info,
                    }
                    print(json.dumps(record), flush=True)
                    records.append(record)
                    if args.out:
                        with args.out.open("a") as out:
                            out.write(json.dumps(record) + "\n")
    return records


def print_table(records: list[dict[str, Any]], default: str) -> None:
    """One line per (set, size, recipe): means over sampling seeds; then the per-recipe summary."""
    from finetune.metrics import fmt_interval

    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["set"], r["size"], r["recipe"]), []).append(r)
    columns = ("accuracy [95% CI]", "macro-F1 [95% CI]")
    print(f"{'set':<10} {'size':>5} {'recipe':<16} {'n':>2} {columns[0]:<24} {columns[1]:<24} {'sd':>6} {'train s':>8}")
    cells: dict[tuple[str, int], dict[str, float]] = {}
    for (name, size, recipe), runs in sorted(groups.items()):
        mean = {
            metric: {k: statistics.mean(r["intervals"][metric][k] for r in runs) for k in ("estimate", "low", "high")}
            for metric in ("accuracy", "macro_f1")
        }
        spread = statistics.pstdev(r["intervals"]["accuracy"]["estimate"] for r in runs)
        if "@" not in recipe:  # tagged variants (--tag @...) are shown, not ranked
            cells.setdefault((name, size), {})[recipe] = mean["accuracy"]["estimate"]
        print(
            f"{name:<10} {size:>5} {recipe:<16} {len(runs):>2} {fmt_interval(mean['accuracy']):<24} "
            f"{fmt_interval(mean['macro_f1']):<24} {spread:>6.3f} {statistics.mean(r['seconds'] for r in runs):>8.1f}"
        )
    recipes = sorted({recipe for scores in cells.values() for recipe in scores})
    complete = {key: scores for key, scores in cells.items() if set(scores) == set(recipes)}
    for recipe in recipes:
        wins = sum(max(scores, key=lambda r, s=scores: s[r]) == recipe for scores in complete.values())
        mean = statistics.mean(s[recipe] for s in complete.values()) if complete else float("nan")
        print(
            f"recipe {recipe:<13} mean accuracy {mean:.3f} over {len(complete)} cells with every recipe; best in {wins}"
        )
    if default not in recipes or len(recipes) < 2 or not complete:
        print("ratio: 1.000  (no cell has the default and another recipe)")
        return
    ratios = [s[default] / max(1e-6, *(v for r, v in s.items() if r != default)) for s in complete.values()]
    print(f"default recipe: {default}")
    print(f"ratio: {statistics.mean(ratios):.3f}")


if __name__ == "__main__":
    main()
