"""The job service with real teachers: the embedded vLLM engine in the job process, and a real
`vllm serve` behind the remote teacher (the compose set-up), on a real `seedforge serve`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import GENERAL_SEEDS, cli, cli_env
from tests.service_helpers import group_alive, start_service, wait_job

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

FAST = (
    "generation:\n  min_prompts_per_round: 4\n"
    "  instruction_sampling: {temperature: 0.9, top_p: 0.95, max_tokens: 384}\n"
    "  response_sampling: {temperature: 0.7, top_p: 0.95, max_tokens: 256}\n"
)
EMBEDDED = {"teacher": {"enforce_eager": True}, "poll_seconds": 0.3, "cancel_grace_seconds": 5}


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def job_pid(service, job_id: str) -> int | None:
    import sqlite3

    with sqlite3.connect(service.data_dir / "jobs.sqlite3") as db:
        return db.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def test_submit_progress_artifacts_with_the_embedded_engine(tmp_path):
    service = start_service(tmp_path, tmp_path / "data", EMBEDDED)
    try:
        config = tmp_path / "fast.yaml"
        config.write_text(FAST)
        env = {**cli_env(), "SEEDFORGE_API_TOKEN": service.token, "SEEDFORGE_URL": service.url}
        submitted = subprocess.run(
            cli("submit", str(GENERAL_SEEDS), "--config", str(config), "--num", "3"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.split()[0]
        seen: list[dict] = []

        def watch(job: dict) -> bool:
            seen.append(job)
            return job["state"] in ("succeeded", "failed")

        done = wait_job(service, job_id, watch, timeout=600)
        assert done["state"] == "succeeded", done
        # progress was visible while it ran: stages and counts, then the final funnel
        running = [j for j in seen if j["state"] == "running" and j["progress"]]
        assert running and {j["stage"] for j in running} & {"instructions", "responses"}
        assert any(j["progress"]["completions"] > 0 for j in running)
        funnel = done["funnel"]
        assert funnel["kept"] >= 3 and funnel["kept"] + funnel["rejected_total"] == funnel["candidates"]
        fetched = subprocess.run(
            cli("download", job_id, "--out", str(tmp_path / "out")), env=env, capture_output=True, text=True
        )
        assert fetched.returncode == 0, fetched.stderr
        rows = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
        assert len(rows) == funnel["kept"]
        assert all(r["meta"]["teacher"]["model"] == "smollm2-135m-instruct" for r in rows)
        stats = json.loads((tmp_path / "out" / "stats.json").read_text())
        assert stats["teacher"]["endpoint"] == "in-process" and stats["teacher"]["completion_tokens"] > 0
    finally:
        service.stop()


def test_cancel_kills_the_job_and_its_engine_processes(tmp_path):
    service = start_service(tmp_path, tmp_path / "data", EMBEDDED)
    try:
        job = service.client().post(
            "/jobs",
            files={"seeds": (GENERAL_SEEDS.name, GENERAL_SEEDS.read_bytes()), "config": ("c.yaml", FAST.encode())},
            data={"num": "20"},
        )
        job_id = job.json()["id"]
        wait_job(service, job_id, lambda j: j["state"] == "running" and job_pid(service, j["id"]), timeout=60)
        pid = job_pid(service, job_id)
        deadline = time.monotonic() + 240
        while len(group_members(pid)) < 2 and time.monotonic() < deadline:  # the engine core has spawned
            time.sleep(0.5)
        members = group_members(pid)
        assert len(members) >= 2, "the engine never started"
        response = service.client().post(f"/jobs/{job_id}/cancel")
        assert response.status_code == 202
        done = wait_job(service, job_id, lambda j: j["state"] == "cancelled", timeout=60)
        assert done["error"] is None
        deadline = time.monotonic() + 15
        while group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_alive(pid) and not [m for m in members if os.path.exists(f"/proc/{m}")]
    finally:
        service.stop()


def test_remote_teacher_job_survives_a_crash_of_the_service(tmp_path, vllm_server):
    settings = {
        "poll_seconds": 0.3,
        "teacher": {"backend": "openai", "base_urls": [vllm_server.url], "api_key_env": "TEACHER_KEY"},
    }
    env = {"TEACHER_KEY": vllm_server.api_key}
    first = start_service(tmp_path, tmp_path / "data", settings, env=env)
    journal = tmp_path / "data" / "jobs"
    try:
        job = first.client().post(
            "/jobs",
            files={"seeds": (GENERAL_SEEDS.name, GENERAL_SEEDS.read_bytes()), "config": ("c.yaml", FAST.encode())},
            data={"num": "3"},
        )
        job_id = job.json()["id"]
        journal = journal / job_id / "run" / "journal.jsonl"
        wait_job(first, job_id, lambda j: journal.exists() and journal.read_bytes().count(b"\n") >= 2, timeout=300)
        pid = job_pid(first, job_id)
        first.kill()
        deadline = time.monotonic() + 15
        while pid and group_alive(pid) and time.monotonic() < deadline:  # the job follows its worker
            time.sleep(0.2)
        assert pid and not group_alive(pid)
    finally:
        first.stop()
    second = start_service(tmp_path, tmp_path / "data", settings, token=first.token, env=env)
    try:
        done = wait_job(second, job_id, lambda j: j["state"] == "succeeded", timeout=600)
        assert done["interruptions"] == 1 and done["runs"] == 2
        stats = second.client().get(f"/jobs/{job_id}/artifacts/stats.json").json()
        assert stats["journal"]["reused"] == stats["journal"]["loaded"] >= 2
        assert stats["teacher"]["endpoint"] == vllm_server.url
        record = json.dumps(second.client().get(f"/jobs/{job_id}").json())
        log = (tmp_path / "data" / "jobs" / job_id / "job.log").read_text(errors="replace")
        for text in (record, log, second.log_tail(), first.log_tail()):
            assert vllm_server.api_key not in text and first.token not in text
    finally:
        second.stop()
