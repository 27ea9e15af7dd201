from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GENERAL_SEEDS = EXAMPLES / "general" / "seed_tasks.jsonl"


def cli_env() -> dict[str, str]:
    """Environment for `python -m cli ...` subprocesses: this checkout's packages first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def vllm_teacher():
    """One real vLLM CPU engine with the embedded model for the whole test session (~35 s start)."""
    from generator.teachers.vllm import VLLMConfig, VLLMTeacher

    teacher = VLLMTeacher(VLLMConfig(enforce_eager=True))
    _ = teacher.llm
    yield teacher
    teacher.close()


def wait_for_journal(proc: subprocess.Popen, journal: Path, lines: int, timeout: float = 600.0) -> None:
    """Until a running CLI run has journaled `lines` completions: the moment to interrupt it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= lines:
            break
        time.sleep(0.2)
    stderr = proc.stderr.read()[-2000:] if proc.poll() is not None and proc.stderr else ""
    assert proc.poll() is None, "run ended before it could be interrupted: " + stderr


def kill_mid_run(args: list[str], journal: Path, lines: int) -> dict:
    """Start the CLI run `args` and kill -9 its process group (the engine core and workers die
    with it) once `lines` completions are journaled; the journal's entries as the kill left them."""
    from rundir.journal import scan

    proc = subprocess.Popen(
        args, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    wait_for_journal(proc, journal, lines)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = scan(journal).entries
    assert before and not (journal.parent / "train.jsonl").exists(), "killed before anything was published"
    return before


def assert_resumed_exactly(out: Path, before: dict) -> int:
    """A resumed run lost nothing (every journaled completion answered its request again) and
    duplicated nothing (each request was asked of the engine or of the journal once, and journaled
    once); returns the run's attempts."""
    import json

    from rundir.journal import scan

    stats = json.loads((out / "stats.json").read_text())
    teacher = stats["teacher"]
    assert stats["journal"]["loaded"] == stats["journal"]["reused"] == teacher["cached"] == len(before)
    attempts = sum(stage["attempts"] for stage in teacher["stages"].values())
    assert attempts == teacher["calls"] + teacher["cached"]
    journal = out / "journal.jsonl"
    after = scan(journal).entries
    assert all(after[k] == v for k, v in before.items())
    assert journal.read_bytes().count(b"\n") == len(after) == attempts
    return attempts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300.0, **kwargs) -> None:
    """Poll `url` until it answers 200; fail with the server's log tail if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, **kwargs).status_code == 200:
                return
        time.sleep(0.5)
    stop_process_group(proc)
    pytest.fail(f"{url} not up after {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


def stop_process_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the group a test started (start_new_session=True), SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # engine workers left behind by a clean parent exit


@dataclass(frozen=True)
class VLLMServer:
    url: str  # OpenAI base URL, .../v1
    model: str  # served model name
    api_key: str  # the server requires it (VLLM_API_KEY): clients must send it


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory) -> Iterator[VLLMServer]:
    """A real `vllm serve` (OpenAI API server) process on 127.0.0.1 with the embedded model and the
    in-process engine's CPU settings, shared by the session (~50 s start)."""
    from generator.teachers.vllm import VLLMConfig, VLLMTeacher, cpu_environment, is_cpu_build

    teacher = VLLMTeacher(VLLMConfig(enforce_eager=True))
    port = free_port()
    env = cli_env()
    if is_cpu_build():
        env.update({k: env.get(k, v) for k, v in cpu_environment().items()})
    api_key = "test-teacher-key-" + os.urandom(6).hex()
    env.update(HF_HUB_OFFLINE="1", VLLM_API_KEY=api_key)
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            teacher.server_command("127.0.0.1", port, served_name=teacher.model.name),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_http(f"{url}/models", proc, log, headers={"Authorization": f"Bearer {api_key}"})
        yield VLLMServer(url=url, model=teacher.model.name, api_key=api_key)
    finally:
        stop_process_group(proc)
