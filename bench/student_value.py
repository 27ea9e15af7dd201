"""Is the synthetic data worth it? Student on generated rows + seeds vs seeds-only (every recipe)
vs the teacher itself, all on TEST_FILE with 95% bootstrap intervals (`seedforge finetune
classifier`'s value table).

Generates a labeled run from DOMAIN (or reuses --run-dir). The student handed over is chosen on
folds of the seeds by default (--select-on seeds), so TEST_FILE is only reported, never used to
choose. The last line is `ratio: X` = student accuracy / best seeds-only accuracy on the test file.

    python bench/student_value.py examples/reviews/domain.yaml examples/reviews/test.jsonl [--per-label 30]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("domain")
    parser.add_argument("test_file")
    parser.add_argument("--per-label", type=int, default=None, help="quota per label (default: the domain's)")
    parser.add_argument("--run-dir", help="reuse an existing labeled run instead of generating")
    parser.add_argument("--no-verify", action="store_true", help="skip blind verification while generating")
    parser.add_argument("--recipe", help="student recipe (default: the domain's student.recipe)")
    parser.add_argument("--select-on", choices=["seeds", "test"], default="seeds")
    parser.add_argument(
        "--test-sample", type=int, default=0, help="score every model on a stratified sample of N test rows (0: all)"
    )
    args = parser.parse_args()

    from conf.domains import load_domain
    from pipeline.classify_student import finetune_classifier, summary_table
    from pipeline.labeled import QuotaShortfall, generate_labeled

    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="seedforge-value-")) / "run"
    if not args.run_dir or not (run_dir / "train.jsonl").exists():
        overrides: dict[str, object] = {"targets": {"per_label": args.per_label}} if args.per_label else {}
        if args.no_verify:
            overrides["verification"] = {"enabled": False}
        try:
            summary = generate_labeled(load_domain(args.domain, overrides), run_dir, progress=True)
        except QuotaShortfall as short:  # published all the same: measure what the user would get
            summary = short.summary
            print(f"quota guard: {short.explain()}")
        for label, entry in summary.stats["labels"].items():
            print(
                f"  {label:<22} kept {entry['kept']:>4} of {entry['target']:<4} ({entry['kept'] / entry['target']:.0%})"
            )
        teacher = summary.stats["teacher"]
        print(f"teacher: {teacher['completion_tokens']} tokens out, {teacher['teacher_seconds']} s")
    test_file = Path(args.test_file)
    if args.test_sample:
        # The teacher baselines read every test row once per way of asking; a sample keeps a
        # 7-label set within an hour on two cores. Every model is scored on the same rows.
        test_file = stratified_sample(test_file, args.test_sample, run_dir.parent / "test-sample.jsonl")
        print(f"test sample: {args.test_sample} rows of {args.test_file} -> {test_file}")
    overrides = {"recipe": args.recipe} if args.recipe else {}
    metrics = finetune_classifier(run_dir, test_file=test_file, overrides=overrides, select_on=args.select_on)
    print(summary_table(metrics))
    print(f"run dir: {run_dir}")
    best = metrics["value"]["best_seeds_only"]
    student = metrics["student"]["test"]["accuracy"]
    baseline = metrics["baselines"][best]["test"]
    degenerate = metrics["value"]["degenerate"].get(best)
    if degenerate:
        print(f"note: the best seeds-only baseline {best} predicts {degenerate!r} for nearly every row")
    if baseline["accuracy"] == 0:
        sys.exit(f"{best} scored 0 accuracy on the test file: no finite ratio; see the table above")
    print(f"ratio: {student / baseline['accuracy']:.3f}")


def stratified_sample(path: Path, n: int, out: Path, seed: int = 0) -> Path:
    """n rows of a JSONL test file with each label's share kept (largest remainders), seeded."""
    from generator.seeds.labeled import read_labeled  # the reader finetune uses: JSONL or CSV

    rows = [{"text": text, "label": label} for _, text, label in read_labeled(path, None)]
    by_label: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_label.setdefault(str(row["label"]), []).append(row)
    n = min(n, len(rows))
    exact = {label: n * len(group) / len(rows) for label, group in by_label.items()}
    take = {label: int(share) for label, share in exact.items()}
    for label in sorted(exact, key=lambda k: exact[k] - take[k], reverse=True)[: n - sum(take.values())]:
        take[label] += 1
    rng = random.Random(seed)
    sample = [row for label, group in sorted(by_label.items()) for row in rng.sample(group, take[label])]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in sample), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
