"""`GET /metrics` in the Prometheus text format, computed from the job store at scrape time.

Job counts and dataset totals come from SQLite and the runs' stats.json (so they survive API
restarts and include jobs run by the worker process); HTTP errors are counted in the API process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.jobs import STATES, JobStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class JobCollector(Collector):
    def __init__(self, store: JobStore, jobs_dir: Path, run_subdir: str):
        self.store = store
        self.jobs_dir = jobs_dir
        self.run_subdir = run_subdir
        self._stats: dict[str, dict[str, Any]] = {}  # finished jobs' stats never change: read once

    def _finished_stats(self, job_id: str) -> dict[str, Any]:
        if job_id not in self._stats:
            path = self.jobs_dir / job_id / self.run_subdir / "stats.json"
            try:
                self._stats[job_id] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
        return self._stats[job_id]

    def collect(self) -> Iterator[Metric]:
        counts = self.store.count_by_state()
        jobs = GaugeMetricFamily("seedforge_jobs", "Jobs by state", labels=["state"])
        for state in STATES:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs
        rows = CounterMetricFamily("seedforge_rows", "Rows of succeeded jobs' datasets", labels=["status"])
        tokens = CounterMetricFamily("seedforge_teacher_completion_tokens", "Teacher output tokens of succeeded jobs")
        seconds = CounterMetricFamily("seedforge_teacher_seconds", "Seconds spent in the teacher by succeeded jobs")
        failed = CounterMetricFamily(
            "seedforge_teacher_requests_quarantined", "Teacher requests that failed every attempt", labels=["stage"]
        )
        kept = rejected = out_tokens = 0
        teacher_seconds = 0.0
        quarantined: dict[str, int] = {}
        for job in self.store.list_jobs("succeeded", limit=1_000_000):
            funnel = job.funnel or {}
            kept += int(funnel.get("kept", 0))
            rejected += int(funnel.get("rejected_total", 0))
            teacher = self._finished_stats(job.id).get("teacher", {})
            out_tokens += int(teacher.get("completion_tokens", 0))
            teacher_seconds += float(teacher.get("teacher_seconds", 0.0))
            for stage, entry in teacher.get("stages", {}).items():
                quarantined[stage] = quarantined.get(stage, 0) + int(entry.get("quarantined", 0))
        rows.add_metric(["kept"], kept)
        rows.add_metric(["rejected"], rejected)
        tokens.add_metric([], out_tokens)
        seconds.add_metric([], teacher_seconds)
        for stage, n in sorted(quarantined.items()):
            failed.add_metric([stage], n)
        yield rows
        yield tokens
        yield seconds
        yield failed
        speed = GaugeMetricFamily(
            "seedforge_teacher_tokens_per_second", "Teacher output tokens per second over succeeded jobs"
        )
        speed.add_metric([], out_tokens / teacher_seconds if teacher_seconds else 0.0)
        yield speed


class Metrics:
    """One registry per app: the job collector plus HTTP error counts."""

    def __init__(self, store: JobStore, jobs_dir: Path, run_subdir: str):
        self.registry = CollectorRegistry()
        self.registry.register(JobCollector(store, jobs_dir, run_subdir))
        self.http_errors = Counter(
            "seedforge_http_request_errors", "API responses with status >= 400", ["status"], registry=self.registry
        )

    def observe(self, status: int) -> None:
        if status >= 400:
            self.http_errors.labels(str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
