"""Golden run directories: every case of tests/golden_cases.py, rerun now, must write exactly the
files recorded under tests/golden/<case>/ — the same file list and the same bytes.

It is the safety net for no-behaviour-change refactors. A difference fails with the file and a
short diff. If the change is intended, re-record and review the diff before committing:

    /work/main/.venv/bin/python -m tests.scripts.record_golden [CASE ...]

What is made deterministic instead of masked (tests/golden_tree.py):
- Paths: every case runs at the fixed path /tmp/seedforge-golden/<case>/ with its inputs copied
  to /tmp/seedforge-golden/inputs/ (under a lock), so absolute paths in stats.json, config.yaml,
  report.html, README.md, export.json and console output, the run id (a hash of the run dir's
  path) and the ids of auto-labeled rows (a hash of the input path) are the same on every run.
- Clock: the product's modules see a frozen clock: datetime.now() is 2025-01-01T12:00:00Z
  (stats `run.started_at`, manifest `created_at`, progress `updated_at`, the report's "generated"
  line, export `version_created_at`) and perf_counter/monotonic never advance, so every duration
  (`wall_seconds.*`, `teacher_seconds`, `startup_seconds`) is 0.0 and `tokens_per_second` null.
  Libraries keep the real clock.

What is normalised before comparing (the only non-byte comparisons):
- `*.parquet` and hf `*.arrow` files are recorded as NAME.json: their schema, schema metadata and
  rows as loaded by pyarrow. The binary bytes depend on the pyarrow/parquet writer version (the
  files' created_by and layout), not on Seedforge; the content is the contract. (Their bytes are
  deterministic today: hf's state.json `_fingerprint`, a hash of the data, is compared as is.)
- report.html: each embedded PNG (data:image/png;base64,...) is replaced by its sha256, which
  keeps the check exact but the recorded file small and readable. The PNG bytes depend on the
  matplotlib/freetype version: after upgrading those, re-record.
- `_layout.txt` (not a product file) lists every directory, file and symlink (with its target) a
  case wrote, so symlinks (`current`, RUN_DIR/train.jsonl -> current/...) are compared as links.

Masked: nothing. No JSON key or line is excluded from the comparison.
"""

from __future__ import annotations

import pytest

from tests.golden_cases import CASES, PACKAGES
from tests.golden_tree import GOLDEN, INPUTS, ROOT, differences, run_case

MAX_GOLDEN_BYTES = 2 * 1024 * 1024


@pytest.mark.parametrize("name", list(CASES))
def test_case_writes_the_recorded_files(name):
    assert (GOLDEN / name).is_dir(), f"case {name} was never recorded: python -m tests.scripts.record_golden {name}"
    diff = differences(name, run_case(CASES[name], name, PACKAGES))
    if diff:
        pytest.fail(
            f"golden case {name!r} no longer writes the recorded files (its outputs: {ROOT / name}):\n"
            f"{diff}\nIntended? Re-record with: python -m tests.scripts.record_golden {name}",
            pytrace=False,
        )


def test_recordings_are_the_cases_and_stay_small():
    recorded = {p.name for p in GOLDEN.iterdir() if p.is_dir() and p != INPUTS}
    assert recorded == set(CASES), "tests/golden/ holds a directory for each case, nothing else"
    size = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert size < MAX_GOLDEN_BYTES, f"tests/golden is {size} bytes; keep the cases tiny"
