"""One writer per run directory: an exclusive, non-blocking file lock on RUN_DIR/.lock."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


class RunLocked(RuntimeError):
    pass


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Refuse a second writer on the same run dir (two resumes would interleave the journal)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(f"{run_dir} is being written by another process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
