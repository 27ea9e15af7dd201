"""`seedforge serve`: the API (uvicorn, this process) and the worker (a child process it keeps alive)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

from service.settings import SETTINGS_ENV, TOKEN_ENV, TOKEN_FILE_ENV, ServiceSettings

log = logging.getLogger("seedforge.serve")
# uvicorn's --log-level names (uvicorn.config.LOG_LEVELS)
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class WorkerSupervisor(threading.Thread):
    """Runs `python -m service.worker` and starts it again if it dies (jobs then resume)."""

    def __init__(self, settings: ServiceSettings):
        super().__init__(name="worker-supervisor", daemon=True)
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = threading.Event()

    def run(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, TOKEN_FILE_ENV)}
        env[SETTINGS_ENV] = self.settings.model_dump_json()
        while not self.stopped.is_set():
            self.proc = subprocess.Popen([sys.executable, "-m", "service.worker"], env=env, stdin=subprocess.DEVNULL)
            while self.proc.poll() is None and not self.stopped.wait(0.5):
                pass
            if not self.stopped.is_set():
                log.error("worker exited with code %s; starting it again", self.proc.returncode)
                self.stopped.wait(2.0)

    def stop(self) -> None:
        self.stopped.set()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # the worker stops its jobs and queues them for the next start
        try:
            proc.wait(timeout=self.settings.cancel_grace_seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_server(settings: ServiceSettings, token: str | None, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    from service.api import create_app
    from service.logs import redact_secrets

    app = create_app(settings, token)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False)
    redact_secrets([token] if token else [])  # after Config: it is what sets uvicorn's handlers up
    supervisor = WorkerSupervisor(settings)
    supervisor.start()
    try:
        uvicorn.Server(config).run()
    finally:
        supervisor.stop()
