"""One job in its own process group: `python -m service.jobrun JOB_DIR`.

The worker starts this with a new session, so cancelling is one `killpg` that also takes the
vLLM engine's worker processes. The job is the ordinary crash-safe `generate` into
JOB_DIR/run: killed at any point, started again on the same directory, it resumes from the
journal. Exit codes: 0 done, 1 error, 3 teacher unavailable, 4 a label missed its quota (published anyway);
the reason goes to JOB_DIR/error.txt.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from conf.config import SeedforgeConfig
from generator.teachers.base import TeacherUnavailable
from pipeline.runs import RunSummary
from rundir.lock import RunLocked

REQUEST = "request.json"
ERROR = "error.txt"
RUN = "run"
INPUTS = "inputs"
LOCK_WAIT_SECONDS = 60.0


def watch_parent(interval: float = 0.5) -> None:
    """Die with the process that started us: a killed worker must not leave jobs running
    unseen (the next worker resumes them, and two writers on one run dir are refused)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                # Group leader (as the worker starts us): take the engine's processes along.
                if os.getpgrp() == os.getpid():
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _runner(job_dir: Path) -> Callable[[], RunSummary]:
    """What this job runs, rebuilt from what was validated and recorded at submission."""
    request = json.loads((job_dir / REQUEST).read_text(encoding="utf-8"))
    if request.get("kind") == "classify":
        from conf.domains import load_domain
        from generator.teachers.registry import parse_teacher_config
        from pipeline.labeled import generate_labeled

        loaded = load_domain(job_dir / INPUTS / request["domain_file"], request["overrides"])
        loaded.domain = loaded.domain.model_copy(update={"teacher": parse_teacher_config(request["teacher"])})
        return lambda: generate_labeled(loaded, job_dir / RUN, resume=True)
    from pipeline.instruct import generate

    config = SeedforgeConfig.model_validate(request["config"])
    seeds = job_dir / INPUTS / request["seeds_file"]
    return lambda: generate(config, seeds, job_dir / RUN, resume=True)


def run_job(job_dir: Path) -> RunSummary:
    run = _runner(job_dir)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return run()
        except RunLocked:
            # The previous process on this run dir (killed with its worker) may not be gone yet.
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    watch_parent()
    (job_dir / ERROR).unlink(missing_ok=True)
    from pipeline.labeled import QuotaShortfall  # heavy (encoders, numpy): the job's, not the worker's

    try:
        summary = run_job(job_dir)
    except TeacherUnavailable as exc:
        (job_dir / ERROR).write_text(f"teacher unavailable: {exc}", encoding="utf-8")
        return 3
    except QuotaShortfall as exc:
        (job_dir / ERROR).write_text(exc.explain(), encoding="utf-8")
        return 4
    except Exception as exc:
        traceback.print_exc()
        (job_dir / ERROR).write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        return 1
    print(json.dumps({"funnel": summary.funnel, "version": summary.manifest["version"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
