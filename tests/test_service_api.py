"""The job API on a real `seedforge serve` (uvicorn + worker) on 127.0.0.1.

The service's teacher here is the OpenAI-compatible stub (tests/stub_openai.py) answering with
the scripted teacher, so jobs finish in seconds: these tests are about the service (auth,
uploads, limits, idempotency, artifacts, cancel, restart), not about generation quality; the
real-engine jobs are in test_service_vllm.py.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from service.api import create_app
from service.settings import ServiceSettings
from tests.conftest import GENERAL_SEEDS, cli, cli_env
from tests.service_helpers import group_alive, start_service, wait_job
from tests.stub_openai import Stub, scripted

pytestmark = pytest.mark.slow

SLOW = "slow snails"  # a job whose config names this domain gets slow teacher answers
LIMIT = 256 * 1024


def is_slow(body) -> bool:
    return any(SLOW in m["content"] for m in body["messages"])


@pytest.fixture(scope="module")
def stub():
    server = Stub()
    yield server
    server.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory, stub):
    tmp = tmp_path_factory.mktemp("service")
    settings = {
        "slots": 1,
        "max_upload_bytes": LIMIT,
        "max_rows": 50,
        "max_tokens": 1024,
        "poll_seconds": 0.2,
        "cancel_grace_seconds": 3,
        "teacher": {"backend": "openai", "base_urls": [stub.url], "max_retries": 1, "backoff": 0.1},
    }
    svc = start_service(tmp, tmp / "data", settings)
    yield svc
    svc.stop()


def submit(service, seeds=GENERAL_SEEDS, config: str | None = None, num: int | None = 4, key: str | None = None):
    files = {"seeds": (seeds.name, seeds.read_bytes())}
    if config is not None:
        files["config"] = ("config.yaml", config.encode())
    headers = {"Idempotency-Key": key} if key else {}
    data = {"num": str(num)} if num is not None else {}
    return service.client().post("/jobs", files=files, data=data, headers=headers)


FAST = "generation:\n  min_prompts_per_round: 4\n"


def test_submit_progress_artifacts_and_download(service, tmp_path):
    response = submit(service, config=FAST)
    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}" and job["state"] == "queued"
    assert job["summary"]["seeds"]["tasks"] == 20 and job["summary"]["teacher"]["backend"] == "openai"
    done = wait_job(service, job["id"], lambda j: j["state"] == "succeeded", timeout=120)
    assert done["stage"] == "succeeded" and done["runs"] == 1 and done["error"] is None
    assert done["progress"]["kept"] >= 4 and done["progress"]["stages"]["instructions"]["requests"] > 0
    funnel = done["funnel"]
    assert funnel["kept"] + funnel["rejected_total"] == funnel["candidates"] and funnel["kept"] == 4
    listing = service.client().get(f"/jobs/{job['id']}/artifacts").json()
    names = {a["name"] for a in listing["artifacts"]}
    assert {"train.jsonl", "rejected.jsonl", "stats.json", "config.yaml"} <= names and listing["version"] == 1
    train = next(a for a in listing["artifacts"] if a["name"] == "train.jsonl")
    body = service.client().get(train["url"])
    assert body.status_code == 200 and body.headers["content-type"].startswith("application/x-ndjson")
    assert len(body.content.splitlines()) == train["rows"] == 4
    # the CLI client: status and a sha256-checked download
    env = {**cli_env(), "SEEDFORGE_API_TOKEN": service.token, "SEEDFORGE_URL": service.url}
    status = subprocess.run(cli("status", job["id"]), env=env, capture_output=True, text=True)
    assert status.returncode == 0 and "succeeded" in status.stdout and "funnel" in status.stdout
    fetched = subprocess.run(
        cli("download", job["id"], "--out", str(tmp_path / "dl")), env=env, capture_output=True, text=True
    )
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "dl" / "train.jsonl").read_bytes() == body.content
    config = (tmp_path / "dl" / "config.yaml").read_text()
    assert "base_urls" in config and service.token not in config


def test_serve_refuses_to_start_without_a_token(tmp_path):
    env = {k: v for k, v in cli_env().items() if not k.startswith("SEEDFORGE_API_TOKEN")}
    proc = subprocess.run(
        cli("serve", "--data-dir", str(tmp_path / "d")), env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "no API token" in proc.stderr and not (tmp_path / "d").exists()
    env["SEEDFORGE_API_TOKEN"] = "short"
    proc = subprocess.run(cli("serve", "--data-dir", str(tmp_path / "d")), env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "too short" in proc.stderr and "short" not in proc.stderr.replace("too short", "")


def test_every_route_but_healthz_needs_the_token(service, tmp_path):
    app = create_app(ServiceSettings(data_dir=tmp_path), token="x" * 20)
    routes = [(m, r.path) for r in app.routes if hasattr(r, "methods") for m in sorted(r.methods - {"HEAD"})]
    assert ("POST", "/jobs") in routes and ("GET", "/openapi.json") in routes and len(routes) >= 9
    anonymous, wrong, right = service.client(None), service.client("not-the-token-123456"), service.client()
    for method, path in [*routes, ("GET", "/no/such/route")]:
        url = path.replace("{job_id}", "0" * 32).replace("{name}", "train.jsonl")
        for client in (anonymous, wrong):
            response = client.request(method, url)
            expected = 200 if path in ("/healthz", "/livez") else 401
            assert response.status_code == expected, (method, path, response.status_code)
            if expected == 401:
                assert response.headers["www-authenticate"] == "Bearer"
        assert right.request(method, url).status_code != 401, (method, path)
    assert wrong.get("/jobs", headers={"Authorization": f"Basic {service.token}"}).status_code == 401
    schema = right.get("/openapi.json").json()
    assert "/jobs/{job_id}/artifacts/{name}" in schema["paths"] and "HTTPBearer" in json.dumps(schema)


def test_uploads_over_the_limit_are_refused_while_streaming(service):
    big = b'{"instruction": "Padding task number %d."}\n'
    payload = b"".join(big % i for i in range(LIMIT // len(big) + 100))
    files = {"seeds": ("big.jsonl", payload)}
    response = service.client().post("/jobs", files=files)  # Content-Length declared: refused unread
    assert response.status_code == 413

    boundary = "sfboundary"
    sent = 0
    total = 64 * 2**20

    def chunked():  # no Content-Length: the server has to count as it reads
        nonlocal sent
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="seeds"; filename="s.jsonl"\r\n\r\n'
        yield head.encode()
        line = b'{"instruction": "Padding task that goes on and on."}\n' * 1024
        while sent < total:
            sent += len(line)
            yield line

    response = service.client().post(
        "/jobs", content=chunked(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    # The server hung up after the limit: what got through is the limit plus socket buffers.
    assert sent < total // 2
    jobs_dir = service.data_dir / "jobs"
    assert not [p for p in jobs_dir.iterdir() if p.name.startswith(".staging")]


def test_idempotency_key_returns_the_same_job(service):
    first = submit(service, config=FAST, key="client-retry-1")
    again = submit(service, config=FAST, key="client-retry-1")
    assert first.status_code == 201 and again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = submit(service, config=FAST, num=5, key="client-retry-1")
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    wait_job(service, first.json()["id"], lambda j: j["state"] == "succeeded", timeout=120)


def test_bad_inputs_and_caps_are_422_with_located_errors(service, tmp_path):
    bad_seeds = tmp_path / "seeds.jsonl"
    bad_seeds.write_text('{"id": "a", "instruction": "A fine task."}\n{broken\n')
    response = submit(service, seeds=bad_seeds)
    assert response.status_code == 422 and "seeds.jsonl:2" in response.json()["detail"]
    assert str(tmp_path) not in response.text and str(service.data_dir) not in response.text
    response = submit(service, config="generation:\n  num: 0\n", num=None)
    assert response.status_code == 422 and "config.yaml:2: generation.num" in response.json()["detail"]
    response = submit(service, num=51)
    assert response.status_code == 422 and "cap of 50" in response.json()["detail"]
    response = submit(service, config="generation:\n  response_sampling: {max_tokens: 4096}\n")
    assert response.status_code == 422 and "generation.response_sampling.max_tokens" in response.json()["detail"]
    response = submit(service, config="teacher:\n  model: /etc\n")
    assert response.status_code == 422 and "set by the service" in response.json()["detail"]
    assert service.client().get(f"/jobs/{'f' * 32}").status_code == 404
    assert service.client().get("/jobs/not-a-job-id").status_code == 404


def raw_get(service, path: str) -> int:
    """Send the path byte for byte (httpx would normalise ../ away)."""
    host, port = service.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {service.token}"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_artifact_paths_cannot_leave_the_job_dir(service, tmp_path):
    job = submit(service, config=FAST).json()
    wait_job(service, job["id"], lambda j: j["state"] == "succeeded", timeout=120)
    base = f"/jobs/{job['id']}/artifacts"
    assert raw_get(service, f"{base}/train.jsonl") == 200
    for attempt in (
        f"{base}/../../../jobs.sqlite3",
        f"{base}/..%2F..%2F..%2Fjobs.sqlite3",
        f"{base}/%2e%2e%2f%2e%2e%2fjobs.sqlite3",
        f"{base}/..",
        f"{base}/%2Fetc%2Fpasswd",
        f"{base}//etc/passwd",
        f"{base}/journal.jsonl",
        f"{base}/.lock",
        "/jobs/..%2F..%2Fetc/artifacts/passwd",
        "/jobs/../jobs.sqlite3",
    ):
        assert raw_get(service, attempt) in (403, 404), attempt
    # A published name whose link chain now ends outside the job dir (here: a file of the test,
    # standing in for anything on the server): resolved, found outside, refused.
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve me")
    run = service.data_dir / "jobs" / job["id"] / "run"
    version_file = (run / "stats.json").resolve()
    version_file.unlink()
    os.symlink(secret, version_file)
    assert raw_get(service, f"{base}/stats.json") == 403
    other = (run / "rejected.jsonl").resolve()
    other.unlink()
    os.symlink(service.data_dir / "jobs.sqlite3", other)  # inside the data dir, outside this job
    assert raw_get(service, f"{base}/rejected.jsonl") == 403
    assert raw_get(service, f"{base}/train.jsonl") == 200  # internal links still work


class Gate:
    """Teacher behaviour for the slow job: its first `fast` requests answer at once, the rest hang."""

    def __init__(self, fast: int):
        self.fast = fast
        self.seen = 0
        self.lock = threading.Lock()

    def __call__(self, body, attempt):
        if not is_slow(body):
            return None
        with self.lock:
            self.seen += 1
            hang = self.seen > self.fast
        return (*scripted(body)[:3], 60.0 if hang else 0.0)


def job_pid(service, job_id: str) -> int | None:
    with sqlite3.connect(service.data_dir / "jobs.sqlite3") as db:
        return db.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def wait_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not group_alive(pid)


def journal_lines(service, job_id: str) -> int:
    path = service.data_dir / "jobs" / job_id / "run" / "journal.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


SLOW_CONFIG = f"generation:\n  min_prompts_per_round: 4\n  domain: {SLOW}\n"


def test_cancel_stops_the_process_group_and_resume_finishes_from_the_journal(service, stub):
    gate = Gate(fast=2)
    stub.script = gate
    try:
        slow = submit(service, config=SLOW_CONFIG).json()
        queued = submit(service, config=FAST, num=3).json()
        wait_job(service, slow["id"], lambda j: journal_lines(service, slow["id"]) >= 2 and gate.seen > 2, timeout=120)
        pid = job_pid(service, slow["id"])
        assert pid is not None and group_alive(pid)
        environ = open(f"/proc/{pid}/environ", "rb").read()  # noqa: SIM115
        assert service.token.encode() not in environ and b"SEEDFORGE_API_TOKEN" not in environ
        # jobs run below the API's CPU priority (job_nice, default 10)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
        # the worker publishes its stage with its progress; wait for it rather than race it
        wait_job(service, slow["id"], lambda j: j["stage"] == "instructions", timeout=30)
        # a queued job is cancelled at once, without ever running
        cancelled = service.client().post(f"/jobs/{queued['id']}/cancel")
        assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
        assert service.client().post(f"/jobs/{queued['id']}/cancel").status_code == 409
        # a running one: its whole process group is stopped
        response = service.client().post(f"/jobs/{slow['id']}/cancel")
        assert response.status_code == 202 and response.json()["cancel_requested"]
        done = wait_job(service, slow["id"], lambda j: j["state"] == "cancelled", timeout=60)
        assert done["finished_at"] and done["error"] is None and wait_gone(pid)
        journaled = journal_lines(service, slow["id"])
        assert journaled >= 2
        # and its run is resumable: what was journaled is not asked again
        stub.script = None
        resumed = service.client().post(f"/jobs/{slow['id']}/resume")
        assert resumed.status_code == 202 and resumed.json()["state"] == "queued"
        finished = wait_job(service, slow["id"], lambda j: j["state"] == "succeeded", timeout=120)
        assert finished["runs"] == 2
        stats = service.client().get(f"/jobs/{slow['id']}/artifacts/stats.json").json()
        assert stats["journal"]["loaded"] == journaled and stats["journal"]["reused"] == journaled
    finally:
        stub.script = None


def test_a_job_interrupted_by_a_crash_is_resumed_on_restart(tmp_path, stub):
    gate = Gate(fast=2)
    stub.script = gate
    settings = {
        "slots": 1,
        "poll_seconds": 0.2,
        "teacher": {"backend": "openai", "base_urls": [stub.url], "max_retries": 0},
    }
    first = start_service(tmp_path, tmp_path / "data", settings)
    try:
        job = submit(first, config=SLOW_CONFIG).json()
        wait_job(first, job["id"], lambda j: journal_lines(first, job["id"]) >= 2 and gate.seen > 2, timeout=120)
        pid = job_pid(first, job["id"])
        first.kill()  # serve and worker die at once; the job notices its parent is gone
        assert pid is not None and wait_gone(pid)
        journaled = journal_lines(first, job["id"])
    finally:
        first.stop()
    with sqlite3.connect(tmp_path / "data" / "jobs.sqlite3") as db:
        assert db.execute("SELECT state FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0] == "running"
    stub.script = None
    second = start_service(tmp_path, tmp_path / "data", settings, token=first.token)
    try:
        done = wait_job(second, job["id"], lambda j: j["state"] == "succeeded", timeout=120)
        assert done["interruptions"] == 1 and done["runs"] == 2
        stats = second.client().get(f"/jobs/{job['id']}/artifacts/stats.json").json()
        assert stats["journal"]["reused"] == journaled >= 2
    finally:
        second.stop()


REVIEWS = GENERAL_SEEDS.parents[1] / "reviews"


def test_domain_job_with_its_seeds_file(service, tmp_path):
    labeled = tmp_path / "labeled.jsonl"
    rows = [json.loads(x) for x in (REVIEWS / "test.jsonl").read_text().splitlines()]
    picked = [r for label in ("positive", "negative", "neutral") for r in [x for x in rows if x["label"] == label][:3]]
    labeled.write_text("".join(json.dumps(r) + "\n" for r in picked))
    domain = (
        "kind: classify\nname: tiny-sentiment\ntask: Decide if a product review is positive, negative or neutral.\n"
        "labels:\n  - name: positive\n  - name: negative\n  - name: neutral\n"
        "seeds_file: labeled.jsonl\ntargets: {per_label: 2}\n"
    )
    # The stub cannot score (no /tokenize, like any server that is not vLLM): the default verification
    # fails the job and says what to do; `vote` needs only chat completions.
    files = {"domain": ("domain.yaml", domain.encode()), "seeds": ("labeled.jsonl", labeled.read_bytes())}
    response = service.client().post("/jobs", files=files)
    assert response.status_code == 201, response.text
    failed = wait_job(service, response.json()["id"], lambda j: j["state"] == "failed", timeout=120)
    assert "cannot calibrate" in failed["error"] and "method: vote" in failed["error"], failed["error"]
    domain += "verification: {method: vote}\n"
    files = {"domain": ("domain.yaml", domain.encode()), "seeds": ("labeled.jsonl", labeled.read_bytes())}
    response = service.client().post("/jobs", files=files)
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["summary"]["kind"] == "classify" and job["summary"]["num"] == 6
    done = wait_job(service, job["id"], lambda j: j["state"] == "succeeded", timeout=120)
    assert done["funnel"]["kept"] + done["funnel"]["rejected_total"] == done["funnel"]["candidates"]
    names = {a["name"] for a in service.client().get(f"/jobs/{job['id']}/artifacts").json()["artifacts"]}
    assert {"train.jsonl", "seeds.jsonl", "stats.json"} <= names
    rows = service.client().get(f"/jobs/{job['id']}/artifacts/train.jsonl").text.splitlines()
    assert rows and all(json.loads(r)["label"] in ("positive", "negative", "neutral") for r in rows)


def test_domain_jobs_cannot_reach_server_files_or_choose_a_teacher(service):
    domain = (REVIEWS / "domain.yaml").read_text()
    for extra, problem in (
        ("seeds_file: ../../../jobs.sqlite3\n", "must name the seeds file uploaded"),
        ("seeds_file: /etc/passwd\n", "must name the seeds file uploaded"),
        ("teacher: {model: /etc}\n", "set by the service"),
    ):
        response = service.client().post("/jobs", files={"domain": ("domain.yaml", (domain + extra).encode())})
        assert response.status_code == 422 and problem in response.json()["detail"], response.text
    response = service.client().post("/jobs", files={"domain": ("d.yaml", domain.encode())}, data={"num": "5000"})
    assert response.status_code == 422 and "cap of 50" in response.json()["detail"]
    response = service.client().post(
        "/jobs", files={"domain": ("d.yaml", domain.encode()), "config": ("c.yaml", b"generation: {}\n")}
    )
    assert response.status_code == 422 and "do not send `config`" in response.json()["detail"]
    assert service.client().post("/jobs", data={"num": "3"}).status_code == 422


def test_metrics_are_prometheus_text(service):
    from prometheus_client.parser import text_string_to_metric_families

    done = wait_job(
        service, submit(service, config=FAST).json()["id"], lambda j: j["state"] == "succeeded", timeout=120
    )
    assert service.client(token="wrong").get("/metrics").status_code == 401
    response = service.client().get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    jobs = {s.labels["state"]: s.value for s in families["seedforge_jobs"].samples}
    assert set(jobs) == {"queued", "running", "succeeded", "failed", "cancelled"} and jobs["succeeded"] >= 1
    rows = {s.labels["status"]: s.value for s in families["seedforge_rows"].samples if s.name.endswith("_total")}
    assert rows["kept"] >= done["funnel"]["kept"]
    assert families["seedforge_teacher_tokens_per_second"].samples[0].value > 0
    errors = {
        s.labels["status"]: s.value
        for s in families["seedforge_http_request_errors"].samples
        if s.name.endswith("_total")
    }
    assert errors.get("401", 0) >= 1  # the wrong-token request above
