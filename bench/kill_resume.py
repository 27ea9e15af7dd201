"""Many more kill -9 / resume cycles than CI runs, with the deterministic scripted teacher.

For each seed the generate process is killed once the journal holds a random number of records,
then resumed to completion; the final train.jsonl must be byte-identical to an uninterrupted run.
Baseline: the teacher requests of one uninterrupted run. The last line, `ratio: X`, is the mean
number of teacher requests a killed-and-resumed run makes divided by that baseline: 1.0 means a
kill cost nothing but the requests in flight.

    python bench/kill_resume.py [--seeds 100]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_kill import fake_run, journal_lines, kill_at, run_to_end  # noqa: E402


def calls(out: Path) -> int:
    return int(json.loads((out / "stats.json").read_text())["teacher"]["calls"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seedforge-kill-"))
    try:
        reference = work / "reference"
        run_to_end(reference)
        baseline_calls = calls(reference)
        total = journal_lines(reference)
        identical, killed, spent = 0, 0, []
        for seed in range(args.seeds):
            rng = random.Random(seed)
            out = work / f"run{seed}"
            first = fake_run(out)
            was_killed = kill_at(first, out, rng.randrange(0, total), rng.uniform(0, 0.03))
            before = journal_lines(out)
            run_to_end(out)
            killed += was_killed
            same = (out / "train.jsonl").read_bytes() == (reference / "train.jsonl").read_bytes()
            identical += same
            spent.append(before + calls(out))
            print(f"seed {seed}: killed={was_killed} journaled_before_kill={before} identical={same}", flush=True)
            shutil.rmtree(out)
        print(f"kills: {killed}/{args.seeds}, byte-identical results: {identical}/{args.seeds}")
        print(f"baseline (uninterrupted) teacher requests: {baseline_calls}")
        print(f"killed+resumed, mean teacher requests: {statistics.fmean(spent):.1f}")
        print(f"ratio: {statistics.fmean(spent) / baseline_calls:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
