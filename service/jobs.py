"""The job store: one SQLite database (WAL) shared by the API process and the worker process.

WAL lets the API read while the worker writes; every state change is one guarded UPDATE
(`... WHERE state = 'running'`), so two processes can never both move a job. States:

    queued → running → succeeded | failed | cancelled
    running → queued            (interrupted by a restart: resumed from the run journal)
    failed | cancelled → queued (POST /jobs/{id}/resume)

A job is never left "running" by a dead worker: the next worker start moves it back to
"queued" (or to "failed", with the reason, once it has been interrupted too often).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[str, ...] = get_args(State)
TERMINAL = ("succeeded", "failed", "cancelled")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT UNIQUE,
    request_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT 'queued',
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}',
    progress TEXT,
    funnel TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0,
    interruptions INTEGER NOT NULL DEFAULT 0,
    slot INTEGER,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Job:
    id: str
    idempotency_key: str | None
    request_sha256: str
    state: str
    stage: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str
    summary: dict[str, Any]
    progress: dict[str, Any] | None
    funnel: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    runs: int
    interruptions: int
    slot: int | None
    pid: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        for key in ("summary", "progress", "funnel"):
            data[key] = json.loads(data[key]) if data[key] is not None else None
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but process details."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("pid", "slot", "request_sha256")}
        out["links"] = {
            "self": f"/jobs/{self.id}",
            "artifacts": f"/jobs/{self.id}/artifacts",
            "cancel": f"/jobs/{self.id}/cancel",
        }
        return out


class JobStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per operation: safe from any thread or process.
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        try:
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _update(self, job_id: str, where: str, **values: Any) -> bool:
        values["updated_at"] = now()
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._connect() as db:
            cursor = db.execute(f"UPDATE jobs SET {sets} WHERE id = ? AND {where}", [*values.values(), job_id])
            return cursor.rowcount == 1

    # -- reads ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def by_key(self, key: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        return Job.from_row(row) if row else None

    def count_by_state(self) -> dict[str, int]:
        with self._connect() as db:
            return {row[0]: row[1] for row in db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")}

    def list_jobs(self, state: str | None = None, limit: int = 50) -> list[Job]:
        query, args = "SELECT * FROM jobs", []
        if state is not None:
            query, args = query + " WHERE state = ?", [state]
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at DESC, id LIMIT ?", [*args, limit]).fetchall()
        return [Job.from_row(r) for r in rows]

    # -- API side -------------------------------------------------------------------------------

    def create(self, job_id: str, request_sha256: str, idempotency_key: str | None, summary: dict[str, Any]) -> Job:
        """Insert a queued job. Raises sqlite3.IntegrityError if the idempotency key is taken."""
        stamp = now()
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, idempotency_key, request_sha256, state, created_at, updated_at, summary)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, idempotency_key, request_sha256, stamp, stamp, json.dumps(summary)),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def request_cancel(self, job_id: str) -> Job | None:
        """Queued: cancelled at once. Running: flagged; the worker kills its process group."""
        self._update(job_id, "state = 'queued'", state="cancelled", stage="cancelled", finished_at=now())
        self._update(job_id, "state = 'running'", cancel_requested=1, stage="cancelling")
        return self.get(job_id)

    def resume(self, job_id: str) -> bool:
        """Queue a failed or cancelled job again; its run resumes from the journal."""
        return self._update(
            job_id,
            "state IN ('failed', 'cancelled')",
            state="queued",
            stage="queued",
            error=None,
            cancel_requested=0,
            finished_at=None,
        )

    # -- worker side ----------------------------------------------------------------------------

    def claim_next(self, slot: int) -> Job | None:
        with self._transaction() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at, id LIMIT 1").fetchone()
            if row is None:
                return None
            stamp = now()
            db.execute(
                "UPDATE jobs SET state = 'running', stage = 'starting', slot = ?, runs = runs + 1,"
                " started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ?",
                (slot, stamp, stamp, row["id"]),
            )
        return self.get(row["id"])

    def set_pid(self, job_id: str, pid: int) -> None:
        self._update(job_id, "state = 'running'", pid=pid)

    def update_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        stage = str(progress.get("stage", "running"))
        self._update(job_id, "state = 'running' AND cancel_requested = 0", stage=stage, progress=json.dumps(progress))

    def finish(self, job_id: str, state: str, error: str | None = None, funnel: dict[str, Any] | None = None) -> bool:
        assert state in TERMINAL
        return self._update(
            job_id,
            "state = 'running'",
            state=state,
            stage=state,
            error=error,
            funnel=json.dumps(funnel) if funnel is not None else None,
            finished_at=now(),
            pid=None,
        )

    def requeue(self, job_id: str, reason: str, max_interruptions: int) -> str:
        """A running job whose process was stopped by a shutdown or lost in a crash."""
        job = self.get(job_id)
        if job is None or job.state != "running":
            return job.state if job else "missing"
        if job.cancel_requested:
            self.finish(job_id, "cancelled")
            return "cancelled"
        if job.interruptions >= max_interruptions:
            message = f"interrupted {job.interruptions + 1} times ({reason}); POST /jobs/{job_id}/resume to retry"
            self.finish(job_id, "failed", error=message)
            return "failed"
        self._update(
            job_id,
            "state = 'running'",
            state="queued",
            stage="queued",
            interruptions=job.interruptions + 1,
            pid=None,
            error=None,
        )
        return "queued"

    def recover(self, max_interruptions: int) -> dict[str, str]:
        """At worker start: every job still marked running lost its process. Resume or fail it."""
        stuck = [job.id for job in self.list_jobs(state="running", limit=1_000_000)]
        return {job_id: self.requeue(job_id, "service restarted", max_interruptions) for job_id in stuck}

    def heartbeat(self, pid: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('worker', ?)",
                (json.dumps({"pid": pid, "at": time.time()}),),
            )

    def worker_seen(self) -> float | None:
        """Seconds since the worker's last heartbeat (None: never)."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'worker'").fetchone()
        return time.time() - float(json.loads(row["value"])["at"]) if row else None
