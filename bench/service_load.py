"""The job service under load: many clients submit and poll while the worker runs the jobs.

Starts a real `seedforge serve` on 127.0.0.1 whose teacher is the OpenAI-compatible stub
(tests/stub_openai.py, its own process at the jobs' CPU niceness, answering with the scripted
teacher at once), so what is measured is the service: API, SQLite, worker, job processes. Baseline: p99 latency of
`GET /jobs/{id}` from one probe client (its own process, sequential GETs 10 ms apart) while
the service is idle (measured in the same run). Then --clients threads submit --jobs jobs
(Idempotency-Key each; every 10th sent twice) and poll them until all have ended, while the same
probe keeps measuring; every job must end `succeeded` with exact accounting, none lost or
duplicated. Last line: `ratio: X` = the probe's p99 under load / its p99 idle (goal <= 5), and 0
errors. The load clients' own poll latencies are printed too: they also hold the time a reply
waits for the GIL among 20 client threads in one Python process, which is the client, not the
service.

    flock /tmp/seedforge-heavy.lock .venv/bin/python bench/service_load.py [--jobs 200 --clients 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import GENERAL_SEEDS, cli_env  # noqa: E402
from tests.load_driver import LoadResult, Workload, percentile, run_load  # noqa: E402
from tests.service_helpers import start_service, wait_job  # noqa: E402

CONFIG = b"generation:\n  min_prompts_per_round: 4\n"
STUB = "from tests.stub_openai import Stub; import sys; s = Stub(); print(s.url, flush=True); sys.stdin.read()"


def probing(service: Any, job_id: str, during: Callable[[], object]) -> list[float]:
    """The probe's latencies (seconds) while `during` runs."""
    env = {**cli_env(), "SEEDFORGE_TOKEN": service.token}
    cmd = [sys.executable, "-m", "tests.load_driver", service.url, job_id]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        during()
    finally:
        out, _ = proc.communicate(b"", timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"the probe failed (exit {proc.returncode})")
    latencies: list[float] = json.loads(out)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--num", type=int, default=3, help="kept rows per job")
    parser.add_argument("--slots", type=int, default=2, help="jobs the worker runs at once")
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--idle-seconds", type=float, default=15.0, help="how long the probe measures the idle service")
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds the load phase may take")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="seedforge-load-"))
    # The stub stands in for a teacher on other hardware: at the jobs' niceness it does not take
    # the CPU from the API it is measuring, as a remote vLLM server would not.
    stub = subprocess.Popen(
        [sys.executable, "-c", STUB],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=cli_env(),
        cwd=ROOT,
        preexec_fn=lambda: os.nice(10),
    )
    assert stub.stdout is not None
    url = stub.stdout.readline().decode().strip()
    teacher = {"backend": "openai", "base_urls": [url], "max_retries": 1}
    settings = {"slots": args.slots, "poll_seconds": 0.2, "max_rows": 1000, "teacher": teacher}
    service = start_service(work, work / "data", settings)
    try:
        client = service.client()
        files = {"seeds": ("seeds.jsonl", GENERAL_SEEDS.read_bytes()), "config": ("config.yaml", CONFIG)}
        warm = client.post("/jobs", files=files, data={"num": str(args.num)}).json()
        wait_job(service, warm["id"], lambda j: j["state"] == "succeeded", timeout=300)
        idle = probing(service, warm["id"], lambda: time.sleep(args.idle_seconds))
        workload = Workload(
            seeds=GENERAL_SEEDS.read_bytes(),
            config=CONFIG,
            num=args.num,
            jobs=args.jobs,
            clients=args.clients,
            poll_interval=args.poll_interval,
            deadline_seconds=args.deadline,
        )
        started = time.monotonic()
        box: list[LoadResult] = []
        loaded = probing(service, warm["id"], lambda: box.append(run_load(service.url, service.token, workload)))
        result = box[0]
        wall = result.finished - started
    finally:
        service.stop()
        stub.stdin.close()  # type: ignore[union-attr]
        stub.wait(timeout=30)
    idle_p99 = percentile(idle, 99)
    probe_p50, probe_p99 = percentile(loaded, 50), percentile(loaded, 99)
    load_p50, load_p99 = percentile(result.latencies, 50), percentile(result.latencies, 99)
    errors = sum(result.errors.values())
    print(f"jobs {args.jobs}, clients {args.clients}, worker slots {args.slots}, {args.num} kept rows per job")
    print(f"submissions/s: {result.submissions_per_second:.1f} ({len(result.keys)} jobs accepted)")
    print(f"all jobs ended in {wall:.1f} s: {len(result.keys) / wall:.2f} jobs/s")
    idle_p50 = percentile(idle, 50)
    print(f"GET /jobs/{{id}} probe, idle ({len(idle)}): p50 {idle_p50 * 1000:.1f} ms, p99 {idle_p99 * 1000:.1f} ms")
    print(
        f"GET /jobs/{{id}} probe, under load ({len(loaded)}): "
        f"p50 {probe_p50 * 1000:.1f} ms, p99 {probe_p99 * 1000:.1f} ms"
    )
    print(
        f"GET /jobs/{{id}} load clients' own polls ({len(result.latencies)}): "
        f"p50 {load_p50 * 1000:.1f} ms, p99 {load_p99 * 1000:.1f} ms"
    )
    samples = list(zip(result.polled_at, result.latencies, strict=True))
    burst = [lat for at, lat in samples if at <= result.last_submit]
    steady = [lat for at, lat in samples if at > result.last_submit]
    for name, part in (("while submitting", burst), ("after the last submission", steady)):
        if part:
            p50, p99 = percentile(part, 50) * 1000, percentile(part, 99) * 1000
            print(f"  {name} ({len(part)}): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"idempotent replays answered with the first job: {result.replays}")
    print(f"errors by status: {dict(result.errors) or 0}")
    print(f"problems: {len(result.problems)}")
    for problem in result.problems[:20]:
        print(f"  {problem}")
    print(f"errors: {errors}")
    print(f"ratio: {probe_p99 / idle_p99:.2f}")
    return 0 if errors == 0 and not result.problems else 1


if __name__ == "__main__":
    sys.exit(main())
