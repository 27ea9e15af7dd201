"""Many more kill -9 / resume cycles than CI runs, with the deterministic scripted teacher.

For each seed the generate process is killed once the journal holds a random number of records,
then resumed to completion; the final train.jsonl must be byte-identical to an uninterrupted run.

Baseline: the teacher requests of one uninterrupted run. The last line, `ratio: X`, is the mean
number of teacher requests a killed-and-resumed run paid for divided by that baseline. Paid for
means every request handed to the teacher, by the killed process and by the resume: the
requests in flight at the kill (handed over, never journaled) are lost and asked again, and that
is the real cost of a kill. The teacher writes a ledger line per call before answering any of
it (tests/scripts/fake_generate.py --ledger), so the killed process's share survives the kill.
A ratio of 1.0 would mean a kill cost nothing; each lost in-flight request adds 1/baseline.

    python bench/kill_resume.py [--seeds 100]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_kill import fake_run, journal_lines, kill_at  # noqa: E402


def launch(out: Path, ledger: Path, num: int) -> subprocess.Popen[str]:
    return fake_run(out, num, ledger)


def finish(proc: subprocess.Popen[str]) -> None:
    _, stderr = proc.communicate(timeout=600)
    if proc.returncode != 0:
        sys.exit(f"generate failed:\n{stderr[-3000:]}")


def submitted(ledger: Path) -> int:
    """Requests handed to the teacher so far, by every process that wrote this ledger."""
    if not ledger.exists():
        return 0
    return sum(int(line) for line in ledger.read_text().split())


def calls(out: Path) -> int:
    return int(json.loads((out / "stats.json").read_text())["teacher"]["calls"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--num", type=int, default=40, help="rows per run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seedforge-kill-"))
    try:
        reference = work / "reference"
        finish(launch(reference, work / "reference.ledger", args.num))
        baseline = submitted(work / "reference.ledger")
        assert baseline == calls(reference), "the ledger and stats.json disagree on an uninterrupted run"
        total = journal_lines(reference)
        identical, killed, spent, lost = 0, 0, [], []
        for seed in range(args.seeds):
            rng = random.Random(seed)
            out, ledger = work / f"run{seed}", work / f"run{seed}.ledger"
            was_killed = kill_at(launch(out, ledger, args.num), out, rng.randrange(0, total), rng.uniform(0, 0.03))
            journaled, handed = journal_lines(out), submitted(ledger)
            finish(launch(out, ledger, args.num))
            killed += was_killed
            same = (out / "train.jsonl").read_bytes() == (reference / "train.jsonl").read_bytes()
            identical += same
            spent.append(submitted(ledger))
            if was_killed:
                lost.append(handed - journaled)
            print(
                f"seed {seed}: killed={was_killed} handed_to_teacher={handed} journaled={journaled} "
                f"lost_in_flight={handed - journaled if was_killed else 0} total_requests={spent[-1]} identical={same}",
                flush=True,
            )
            shutil.rmtree(out)
        print(f"kills: {killed}/{args.seeds}, byte-identical results: {identical}/{args.seeds}")
        print(f"baseline (uninterrupted) teacher requests: {baseline}")
        if lost:
            print(f"requests lost in flight per kill: mean {statistics.fmean(lost):.1f}, max {max(lost)}")
        print(f"killed+resumed, mean teacher requests (incl. lost in flight): {statistics.fmean(spent):.1f}")
        print(f"ratio: {statistics.fmean(spent) / baseline:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
