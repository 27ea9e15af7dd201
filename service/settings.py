"""Settings of the job service (`seedforge serve`): where data lives, limits, and its one teacher.

The service owns the teacher: a submitted job chooses seeds, generation and filters, but not the
model, the engine arguments or the URLs the worker connects to (unless the operator allows it) —
otherwise any API user could point the worker at arbitrary paths or hosts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator.teachers.registry import TeacherConfig, default_teacher_config

TOKEN_ENV = "SEEDFORGE_API_TOKEN"
TOKEN_FILE_ENV = "SEEDFORGE_API_TOKEN_FILE"
SETTINGS_ENV = "SEEDFORGE_SERVICE_SETTINGS"  # how serve hands its settings to the worker process
MIN_TOKEN_CHARS = 16


class ServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Path("seedforge-data")
    slots: int | None = Field(None, ge=1, description="jobs at once; default one per visible GPU, else 1")
    max_upload_bytes: int = Field(64 * 2**20, ge=1024, description="whole request body, enforced while streaming")
    max_rows: int = Field(10_000, ge=1, description="cap on a job's generation.num")
    max_tokens: int = Field(4096, ge=1, description="cap on every max_tokens of a job's sampling")
    max_interruptions: int = Field(5, ge=0, description="restarts a running job survives before it is failed")
    cancel_grace_seconds: float = Field(10.0, ge=0, description="SIGTERM → SIGKILL delay when cancelling")
    poll_seconds: float = Field(0.5, gt=0, description="worker tick")
    # Jobs are batch work; the API answers probes and clients. When the CPU is saturated the
    # scheduler favours the API (a liveness probe timing out would restart the container and
    # interrupt every job); an idle CPU still goes to the jobs in full.
    job_nice: int = Field(10, ge=0, le=19, description="CPU niceness of job processes (0: same as the API)")
    teacher: TeacherConfig = Field(default_factory=default_teacher_config)
    allow_job_teacher: bool = Field(False, description="let a job's config choose its own teacher section")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


class SettingsError(ValueError):
    pass


def load_settings(path: Path | None = None, **overrides: object) -> ServiceSettings:
    data = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: the service config must be a mapping")
        data = loaded
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServiceSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise SettingsError(f"{path or 'service settings'}: {problems}") from None


def load_token(token_file: Path | None = None) -> str | None:
    """The API token from SEEDFORGE_API_TOKEN, or from a file (--token-file / SEEDFORGE_API_TOKEN_FILE)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    file = token_file or (Path(os.environ[TOKEN_FILE_ENV]) if os.environ.get(TOKEN_FILE_ENV) else None)
    if not token and file is not None:
        try:
            token = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"cannot read the token file {file}: {exc.strerror}") from None
    if not token:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise SettingsError(f"the API token is too short (fewer than {MIN_TOKEN_CHARS} characters)")
    return token


def visible_gpus() -> list[str]:
    """GPU ids jobs can be pinned to: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def slot_gpus(settings: ServiceSettings) -> list[str | None]:
    """One entry per job slot: the GPU that slot's jobs see (None: leave the environment alone)."""
    gpus = visible_gpus()
    slots = settings.slots or max(1, len(gpus))
    if not gpus:
        return [None] * slots
    return [gpus[i % len(gpus)] for i in range(slots)]
