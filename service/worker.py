"""The worker process: takes queued jobs and runs each in its own process group, one per slot.

`seedforge serve` starts it (and restarts it if it dies); it is not the API process, so a job
that takes the machine's memory or crashes its engine cannot take the API down with it. A slot
is a GPU (jobs see only theirs through CUDA_VISIBLE_DEVICES); on CPU there is one slot.

Only one worker may own a data dir (a file lock). On start it recovers jobs left "running"
by a crash; on SIGTERM, or when its parent dies, it stops its jobs and queues them again: the
next start resumes them from their run journals.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.progress import PROGRESS, read_progress
from service.jobrun import ERROR, RUN
from service.jobs import Job, JobStore
from service.settings import SETTINGS_ENV, TOKEN_ENV, TOKEN_FILE_ENV, ServiceSettings, slot_gpus

log = logging.getLogger("seedforge.worker")
PRIVATE_ENV = (TOKEN_ENV, TOKEN_FILE_ENV, SETTINGS_ENV)  # jobs never need the API's secrets


@dataclass
class Running:
    job_id: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    kill_at: float | None = None  # set once cancelling: when SIGTERM turns into SIGKILL


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextlib.contextmanager
def worker_lock(data_dir: Path, wait: float = 60.0) -> Iterator[None]:
    """One worker per data dir. Waits a while: a killed predecessor may still be exiting."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "worker.lock").open("w") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another worker owns {data_dir}") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Worker:
    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.store = JobStore(settings.db_path)
        self.gpus = slot_gpus(settings)
        self.running: dict[int, Running] = {}  # slot -> its job
        self.stopping = False

    def job_dir(self, job_id: str) -> Path:
        return self.settings.jobs_dir / job_id

    def job_env(self, slot: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
        env["PYTHONUNBUFFERED"] = "1"
        gpu = self.gpus[slot]
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        return env

    def run(self) -> None:
        parent = os.getppid()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))
        with worker_lock(self.settings.data_dir):
            for job_id, state in self.store.recover(self.settings.max_interruptions).items():
                log.warning("job %s was running when the service stopped: now %s", job_id, state)
            while not self.stopping:
                self.tick()
                time.sleep(self.settings.poll_seconds)
                if os.getppid() != parent:  # serve was killed: stop cleanly, jobs resume next start
                    self.stopping = True
            self.shutdown("service stopped")

    def tick(self) -> None:
        self.store.heartbeat(os.getpid())
        for slot, running in list(self.running.items()):
            self._watch(slot, running)
        for slot in range(len(self.gpus)):
            if slot in self.running or self.stopping:
                continue
            job = self.store.claim_next(slot)
            if job is None:
                break
            self._start(job, slot)

    def _lower_priority(self) -> None:
        if self.settings.job_nice:
            os.nice(self.settings.job_nice)

    def _start(self, job: Job, slot: int) -> None:
        job_dir = self.job_dir(job.id)
        try:
            (job_dir / RUN / PROGRESS).unlink(missing_ok=True)  # a previous run's, until the job writes its own
            handle = (job_dir / "job.log").open("ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", "service.jobrun", str(job_dir)],
                env=self.job_env(slot),
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: one killpg stops the job and its engine
                # In the child before exec, so the engine processes it spawns inherit it too
                # (this worker runs no threads, which preexec_fn would make unsafe).
                preexec_fn=self._lower_priority,
            )
        except OSError as exc:  # e.g. its directory was removed: fail this job, keep the worker
            self.store.finish(job.id, "failed", error=f"cannot start the job: {exc.strerror or exc}")
            return
        self.store.set_pid(job.id, proc.pid)
        self.running[slot] = Running(job.id, proc, handle)
        log.info("job %s started on slot %d (pid %d, run %d)", job.id, slot, proc.pid, job.runs)

    def _watch(self, slot: int, running: Running) -> None:
        progress = read_progress(self.job_dir(running.job_id) / RUN)
        if progress is not None:
            self.store.update_progress(running.job_id, progress)
        code = running.proc.poll()
        if code is not None:
            self._finish(slot, running, code)
            return
        job = self.store.get(running.job_id)
        if job is None or not job.cancel_requested:
            return
        if running.kill_at is None:
            log.info("cancelling job %s", running.job_id)
            _signal_group(running.proc, signal.SIGTERM)
            running.kill_at = time.monotonic() + self.settings.cancel_grace_seconds
        elif time.monotonic() >= running.kill_at:
            _signal_group(running.proc, signal.SIGKILL)

    def _finish(self, slot: int, running: Running, code: int) -> None:
        _signal_group(running.proc, signal.SIGKILL)  # engine processes a crashed job may leave behind
        running.log.close()
        del self.running[slot]
        job_dir = self.job_dir(running.job_id)
        job = self.store.get(running.job_id)
        if code == 0:
            self.store.finish(running.job_id, "succeeded", funnel=_final_funnel(job_dir))
        elif job is not None and job.cancel_requested:
            self.store.finish(running.job_id, "cancelled")
        else:
            self.store.finish(running.job_id, "failed", error=_failure_reason(job_dir, code))
        log.info("job %s finished with exit code %d", running.job_id, code)

    def shutdown(self, reason: str) -> None:
        for running in self.running.values():
            _signal_group(running.proc, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.cancel_grace_seconds
        for running in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            _signal_group(running.proc, signal.SIGKILL)
            running.proc.wait()
            running.log.close()
            state = self.store.requeue(running.job_id, reason, self.settings.max_interruptions)
            log.warning("job %s stopped (%s): now %s", running.job_id, reason, state)
        self.running.clear()


def _final_funnel(job_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((job_dir / RUN / "stats.json").read_text(encoding="utf-8"))["funnel"])
    except (OSError, ValueError, KeyError):
        return None


def _failure_reason(job_dir: Path, code: int) -> str:
    with contextlib.suppress(OSError):
        text = (job_dir / ERROR).read_text(encoding="utf-8").strip()
        if text:
            return text[:2000]
    if code < 0:
        return f"job process killed by signal {signal.Signals(-code).name}"
    return f"job process exited with code {code}; see job.log"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = ServiceSettings.model_validate_json(os.environ[SETTINGS_ENV])
    Worker(settings).run()


if __name__ == "__main__":
    main()
