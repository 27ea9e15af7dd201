"""Is the synthetic data worth it? Student on generated rows vs seeds only vs the teacher itself.

Generates a labeled run from DOMAIN (or reuses --run-dir), trains the classifier student on the
kept rows and, as baselines, the same student on the seed examples alone, and measures the
teacher's zero-shot and few-shot accuracy; all on TEST_FILE. The last line is
`ratio: X` = student macro-F1 / seeds-only macro-F1 on the test file.

    python bench/student_value.py examples/reviews/domain.yaml examples/reviews/test.jsonl [--per-label 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("domain")
    parser.add_argument("test_file")
    parser.add_argument("--per-label", type=int, default=30)
    parser.add_argument("--run-dir", help="reuse an existing labeled run instead of generating")
    parser.add_argument("--no-verify", action="store_true", help="skip blind verification while generating")
    args = parser.parse_args()

    from service.classify_pipeline import generate_labeled
    from service.classify_student import finetune_classifier, summary_table
    from service.domains import load_domain

    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="seedforge-value-")) / "run"
    if not args.run_dir:
        overrides: dict[str, object] = {"targets": {"per_label": args.per_label}}
        if args.no_verify:
            overrides["verification"] = {"enabled": False}
        summary = generate_labeled(load_domain(args.domain, overrides), run_dir, progress=True)
        print(f"generated: {summary.stats['labels']}")
    metrics = finetune_classifier(run_dir, test_file=args.test_file)
    print(summary_table(metrics))
    student = metrics["student"]["test"]["macro_f1"]
    seeds_only = metrics["seeds_only"]["test"]["macro_f1"]
    print(f"run dir: {run_dir}")
    print(f"ratio: {student / seeds_only if seeds_only else float('inf'):.3f}")


if __name__ == "__main__":
    main()
