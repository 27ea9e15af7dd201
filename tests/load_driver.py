"""Many clients submitting and polling jobs at once against a running job service.

Used by bench/service_load.py (the full run) and tests/test_service_load.py (a small one in CI).
Each client thread has its own connection; it submits its share of the jobs (each with its own
Idempotency-Key; a submission that fails in transit or with a 5xx is retried with the same key,
and every `replay_every`-th one is deliberately sent twice), and polls `GET /jobs/{id}` of its
jobs round-robin: one poll after each submission, then one per `poll_interval` (jittered ±50%) until
all have ended or the deadline passes.
Then every job is checked: succeeded, exact accounting, nothing lost or duplicated.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

TERMINAL = ("succeeded", "failed", "cancelled")
SUBMIT_ATTEMPTS = 3


@dataclass
class Workload:
    seeds: bytes
    config: bytes
    num: int
    jobs: int = 200
    clients: int = 20
    poll_interval: float = 0.2
    replay_every: int = 10
    deadline_seconds: float = 1800.0


@dataclass
class LoadResult:
    keys: dict[str, str] = field(default_factory=dict)  # idempotency key -> job id
    latencies: list[float] = field(default_factory=list)  # seconds per GET /jobs/{id}
    polled_at: list[float] = field(default_factory=list)  # when each of those started (monotonic)
    errors: Counter[str] = field(default_factory=Counter)  # unexpected answers by status (or exception)
    replays: int = 0  # deliberate resubmissions answered 200 with the first job
    first_submit: float = 0.0
    last_submit: float = 0.0
    finished: float = 0.0
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> its last view
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def submissions_per_second(self) -> float:
        span = self.last_submit - self.first_submit
        return len(self.keys) / span if span > 0 else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class _Client(threading.Thread):
    def __init__(self, url: str, token: str, work: Workload, indices: list[int], run: str, result: LoadResult):
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.work, self.indices, self.run_id, self.result = work, indices, run, result
        self.mine: list[str] = []  # job ids, in submission order
        self.rng = random.Random(indices[0] if indices else 0)
        self.ended: set[str] = set()

    def note(self, error: str) -> None:
        with self.result.lock:
            self.result.errors[error] += 1

    def post(self, key: str) -> httpx.Response | None:
        files = {"seeds": ("seeds.jsonl", self.work.seeds), "config": ("config.yaml", self.work.config)}
        for _ in range(SUBMIT_ATTEMPTS):
            try:
                response = self.http.post(
                    "/jobs", files=files, data={"num": str(self.work.num)}, headers={"Idempotency-Key": key}
                )
            except httpx.HTTPError as exc:
                self.note(type(exc).__name__)
                continue
            if response.status_code < 500:
                return response
            self.note(str(response.status_code))
        return None

    def submit(self, index: int) -> None:
        key = f"{self.run_id}-{index}"
        with self.result.lock:
            self.result.first_submit = self.result.first_submit or time.monotonic()
        response = self.post(key)
        # 200: an attempt that failed in transit had landed; the retry got that job back
        if response is None or response.status_code not in (200, 201):
            if response is not None:
                self.note(str(response.status_code))
            return
        job_id = response.json()["id"]
        if index % self.work.replay_every == 0:  # a client that never saw the answer sends it again
            again = self.post(key)
            if again is None or again.status_code != 200 or again.json()["id"] != job_id:
                self.note(f"replay {again.status_code if again is not None else 'lost'}")
            else:
                with self.result.lock:
                    self.result.replays += 1
        with self.result.lock:
            if key in self.result.keys:
                self.result.problems.append(f"key {key} submitted by two clients")
            self.result.keys[key] = job_id
            self.result.last_submit = time.monotonic()
        self.mine.append(job_id)

    def poll(self, job_id: str) -> None:
        start = time.monotonic()
        try:
            response = self.http.get(f"/jobs/{job_id}")
        except httpx.HTTPError as exc:
            self.note(type(exc).__name__)
            return
        elapsed = time.monotonic() - start
        if response.status_code != 200:
            self.note(str(response.status_code))
            return
        job = response.json()
        with self.result.lock:
            self.result.latencies.append(elapsed)
            self.result.polled_at.append(start)
            self.result.final[job_id] = job
        if job["state"] in TERMINAL:
            self.ended.add(job_id)

    def run(self) -> None:
        deadline = time.monotonic() + self.work.deadline_seconds
        pending = list(self.indices)
        turn = 0
        while (pending or len(self.ended) < len(self.mine)) and time.monotonic() < deadline:
            if pending:
                self.submit(pending.pop(0))
            waiting = [j for j in self.mine if j not in self.ended]
            if waiting:
                self.poll(waiting[turn % len(waiting)])
                turn += 1
            if not pending:  # submissions go out as fast as the service takes them; polls are paced,
                # with jitter: clients in lockstep would hit the API in bursts of `clients` at once
                time.sleep(self.work.poll_interval * self.rng.uniform(0.5, 1.5))
        self.http.close()


def run_load(url: str, token: str, work: Workload) -> LoadResult:
    """Drive the workload, then check every job through the API (see the module docstring)."""
    result = LoadResult()
    run_id = f"load-{uuid.uuid4().hex[:8]}"
    clients = [
        _Client(url, token, work, list(range(i, work.jobs, work.clients)), run_id, result) for i in range(work.clients)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join(work.deadline_seconds + 120)
    result.finished = time.monotonic()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        check(http, work, run_id, result)
    return result


def check(http: httpx.Client, work: Workload, run_id: str, result: LoadResult) -> None:
    problems = result.problems
    if len(result.keys) != work.jobs:
        problems.append(f"{work.jobs - len(result.keys)} of {work.jobs} submissions never got a job")
    if len(set(result.keys.values())) != len(result.keys):
        problems.append("two idempotency keys got the same job")
    listed = [j for j in http.get("/jobs", params={"limit": 1000}).json()["jobs"] if j["idempotency_key"]]
    ours = [j for j in listed if j["idempotency_key"].startswith(run_id + "-")]
    by_key = Counter(j["idempotency_key"] for j in ours)
    if sorted(by_key) != sorted(result.keys) or any(n > 1 for n in by_key.values()):
        problems.append(f"the service holds {len(ours)} jobs for {len(result.keys)} keys (lost or duplicated)")
    for key, job_id in sorted(result.keys.items()):
        job = http.get(f"/jobs/{job_id}").json()
        funnel = job.get("funnel") or {}
        if job["state"] != "succeeded" or job["idempotency_key"] != key:
            problems.append(f"{job_id}: {job['state']} {job.get('error') or ''}".strip())
        elif funnel.get("kept") != work.num or funnel["kept"] + funnel["rejected_total"] != funnel["candidates"]:
            problems.append(f"{job_id}: funnel does not add up: {funnel}")
        else:
            train = [a for a in http.get(f"/jobs/{job_id}/artifacts").json()["artifacts"] if a["name"] == "train.jsonl"]
            if not train or train[0]["rows"] != work.num:
                problems.append(f"{job_id}: train.jsonl rows {train[0]['rows'] if train else None} != {work.num}")


def probe(url: str, token: str, job_id: str, stop: threading.Event, pause: float = 0.01) -> list[float]:
    """Sequential GET /jobs/{id} from one client, `pause` apart, until `stop` is set: the same
    probe measures idle and loaded latency, so the ratio compares like with like."""
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        while not stop.is_set():
            start = time.perf_counter()
            response = http.get(f"/jobs/{job_id}")
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()
            stop.wait(pause)
    return latencies


def _probe_main() -> None:
    """`python -m tests.load_driver URL JOB_ID` (token in SEEDFORGE_TOKEN): probe until stdin
    closes, then print the latencies as JSON. Its own process, so the load clients' threads do
    not hold its interpreter lock while it waits for an answer."""
    import json
    import os
    import sys

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print(json.dumps(probe(sys.argv[1], os.environ["SEEDFORGE_TOKEN"], sys.argv[2], stop)), flush=True)


if __name__ == "__main__":
    _probe_main()
