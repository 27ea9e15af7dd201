"""Start and drive a real `seedforge serve` (uvicorn + worker processes) on 127.0.0.1 for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.settings import TOKEN_ENV
from tests.conftest import cli, cli_env, free_port, stop_process_group, wait_for_http

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Service:
    url: str
    token: str
    data_dir: Path
    proc: subprocess.Popen
    log: Path
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = "") -> httpx.Client:
        """An httpx client with the right token ("" default), another token, or none (None)."""
        token = self.token if token == "" else token
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        made = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self.clients.append(made)
        return made

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        for made in self.clients:
            made.close()
        stop_process_group(self.proc)

    def kill(self) -> None:
        """SIGKILL serve and its worker at once, as a crash or an OOM kill of the container would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def start_service(
    tmp: Path, data_dir: Path, settings: dict[str, Any], token: str | None = None, env: dict[str, str] | None = None
) -> Service:
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / f"service-{time.monotonic_ns()}.yaml"
    config.write_text(yaml.safe_dump(settings))
    token = token or "test-api-token-" + os.urandom(8).hex()
    port = free_port()
    log = config.with_suffix(".log")
    full_env = {**cli_env(), TOKEN_ENV: token, "HF_HUB_OFFLINE": "1", **(env or {})}
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--config", str(config)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cli(*args), env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp
        )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/healthz", proc, log, timeout=120)  # 200 only once the worker runs
    return Service(url, token, data_dir, proc, log)


def wait_job(
    service: Service, job_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 300
) -> dict[str, Any]:
    client = service.client()
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if until(job):
            return job
        if job["state"] in TERMINAL:
            break
        time.sleep(0.3)
    job_log = service.data_dir / "jobs" / job_id / "job.log"
    tail = job_log.read_text(errors="replace")[-4000:] if job_log.exists() else ""
    pytest.fail(f"job did not get there: {job}\n--- job.log\n{tail}\n--- serve log\n{service.log_tail()}")


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True
