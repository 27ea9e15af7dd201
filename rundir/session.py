"""A run in progress on its directory: the lock, the journal, and publishing the result.

`open_run` locks the directory and opens its journal (a resumed run answers every journaled
request from disk); `OpenRun.finish` checks accounting, then publishes every artifact — rows,
stats, config and the documents the caller renders from them — as one atomic version.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from prompts import Record, stable_hash
from rundir.accounting import check_accounting
from rundir.codec import encode_records
from rundir.journal import Journal
from rundir.lock import run_lock
from rundir.logs import log_context
from rundir.publish import publish

JOURNAL = "journal.jsonl"
log = logging.getLogger("seedforge.run")

# (kept records, rejected records, final stats, config, run dir) -> more artifacts (report.html, README.md)
Documents = Callable[[list[Record], list[Record], dict[str, Any], dict[str, Any], Path], dict[str, bytes]]


def run_id(out_dir: Path) -> str:
    """Stable across resumes of the same run dir, so all of a run's log lines share it."""
    return stable_hash(str(out_dir.resolve()), length=12)


class RunExists(FileExistsError):
    pass


@dataclass
class Published:
    funnel: dict[str, Any]
    stats: dict[str, Any]
    manifest: dict[str, Any]


@dataclass
class OpenRun:
    out_dir: Path
    journal: Journal
    started_at: datetime
    t0: float

    def finish(
        self,
        records: Sequence[Record],
        config: dict[str, Any],
        stats: dict[str, Any],
        documents: Documents | None = None,
        extra_artifacts: dict[str, bytes] | None = None,
    ) -> Published:
        """Check accounting, then publish every artifact of the run in one atomic step."""
        kept = [r for r in records if not r.rejected]
        rejected = [r for r in records if r.rejected]
        funnel = check_accounting(records, len(kept), len(rejected))
        self.journal.sync()
        stats = {
            **stats,
            "funnel": funnel,
            "journal": self.journal.summary(),
            "run": {**stats.get("run", {}), "run_id": run_id(self.out_dir), "started_at": self.started_at.isoformat()},
        }
        stats.setdefault("wall_seconds", {})["total"] = round(time.perf_counter() - self.t0, 3)
        artifacts = {
            **(documents(kept, rejected, stats, config, self.out_dir) if documents is not None else {}),
            "train.jsonl": encode_records(kept),
            "rejected.jsonl": encode_records(rejected),
            "config.yaml": yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode(),
            "stats.json": (json.dumps(stats, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
            **(extra_artifacts or {}),
        }
        manifest = publish(self.out_dir, artifacts)
        log.info(
            "published version %d: kept %d of %d candidates",
            manifest["version"],
            funnel["kept"],
            funnel["candidates"],
            extra={"stage": "publish"},
        )
        return Published(funnel, stats, manifest)


@contextlib.contextmanager
def open_run(out_dir: str | Path, resume: bool = True) -> Iterator[OpenRun]:
    """Lock the run dir and open its journal. `resume=False` refuses to touch an existing journal."""
    out = Path(out_dir)
    if (out / JOURNAL).exists() and not resume:
        raise RunExists(f"{out} already holds a run journal; resume it (--resume) or choose a new --out")
    with run_lock(out), log_context(run_id=run_id(out)):
        journal = Journal(out / JOURNAL)
        log.info("run opened: %d journaled completions", journal.loaded, extra={"out_dir": str(out)})
        try:
            yield OpenRun(out, journal, datetime.now(timezone.utc), time.perf_counter())
        finally:
            journal.close()
