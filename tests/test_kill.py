"""kill -9 at random moments, then resume: nothing lost, nothing duplicated, same result."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rundir.journal import scan
from rundir.publish import verify
from tests.conftest import ROOT, cli_env

pytestmark = pytest.mark.slow


def fake_run(out: Path, num: int = 40, ledger: Path | None = None) -> subprocess.Popen[str]:
    """The scripted run as a process to kill; `ledger` records the requests handed to the teacher."""
    extra = ["--ledger", str(ledger)] if ledger else []
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scripts.fake_generate", str(out), "--num", str(num), "--delay", "0.01", *extra],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_to_end(out: Path) -> str:
    proc = fake_run(out)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    return stdout


def journal_lines(out: Path) -> int:
    try:
        return (out / "journal.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_at(proc: subprocess.Popen[str], out: Path, entries: int, jitter: float) -> bool:
    """SIGKILL the process group once the journal holds `entries` records (+ jitter seconds).

    Returns False if the run finished first. Waiting on the journal (not the clock) makes the
    kill land at a chosen point of the run however fast or slow the machine is.
    """
    while journal_lines(out) < entries:
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    time.sleep(jitter)
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    run_to_end(out)
    return out


def total_entries(reference: Path) -> int:
    return journal_lines(reference)


@pytest.mark.parametrize("seed", range(10))
def test_kill_then_resume_is_byte_identical(tmp_path, reference, seed):
    rng = random.Random(seed)
    out = tmp_path / "run"
    killed = kill_at(fake_run(out), out, rng.randrange(0, total_entries(reference)), rng.uniform(0, 0.03))
    journaled = scan(out / "journal.jsonl").entries if (out / "journal.jsonl").exists() else {}
    stdout = run_to_end(out)
    for name in ("train.jsonl", "rejected.jsonl"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    stats = json.loads((out / "stats.json").read_text())
    assert stats["journal"]["loaded"] == len(journaled)
    assert stats["journal"]["reused"] == len(journaled)  # every journaled completion used again
    final = scan(out / "journal.jsonl").entries
    assert all(final[k] == v for k, v in journaled.items())  # ...and unchanged
    assert not verify(out)
    assert "done" in stdout and killed


def test_three_kills_in_one_run(tmp_path, reference):
    rng = random.Random(99)
    out = tmp_path / "run"
    kills = 0
    points = sorted(rng.sample(range(1, total_entries(reference) - 4), 3))
    for point in points:
        if not kill_at(fake_run(out), out, point, rng.uniform(0, 0.03)):
            break
        kills += 1
    run_to_end(out)
    assert kills == 3
    assert (out / "train.jsonl").read_bytes() == (reference / "train.jsonl").read_bytes()


@pytest.mark.parametrize("seed", range(10))
def test_kill_during_publish_leaves_a_consistent_version(tmp_path, seed):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.scripts.publish_loop", str(tmp_path)],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(random.Random(seed).uniform(0.6, 2.0))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if (tmp_path / "current").exists():
        assert verify(tmp_path) == []
        lines = (tmp_path / "train.jsonl").read_bytes().splitlines()
        versions = {json.loads(line)["v"] for line in lines}
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        assert versions == {manifest["version"]} and len(lines) == 20_000
