"""Where teacher calls run: in this process (`local`) or on a pool of Ray actors (`ray`).

Both executors hand the Gateway a `Teacher`, so everything above it — request ids, the journal,
validation, retries, filters, accounting, publishing — is the same code on one laptop and on a
cluster, and both produce the same kind of run directory. A Ray pool reports the identity of the
teacher its replicas hold, so request ids (and so journals) are interchangeable between executors:
a run started locally can be resumed on a cluster and the other way round.

This module is the configuration only; `generator/teachers/registry.py:make_teacher` builds the
run's teacher from it (the pool itself is generator/teachers/ray.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from generator.teachers.base import Teacher

TeacherFactory = Callable[[], Teacher]


class ExecutorConfig(BaseModel):
    """`executor: ray` (shorthand) or a mapping; CLI: --executor, --ray-address, --replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["local", "ray"] = "local"
    # "auto" (the cluster this machine belongs to), "HOST:6379", "ray://HOST:10001"; None: start a
    # private local Ray instance for the run (and stop it afterwards).
    address: str | None = None
    replicas: int = Field(1, ge=1, description="teacher actors, each holding one engine")
    cpus_per_replica: float = Field(1.0, gt=0, description="Ray CPUs reserved per replica (a core group on CPU)")
    gpus_per_replica: float | None = Field(None, ge=0, description="None: 1 when the cluster has GPUs, else 0")
    batch_size: int = Field(64, ge=1, description="most requests sent to one replica in one call")
    max_replacements: int = Field(4, ge=0, description="replicas started to replace lost ones, per run")
    start_timeout: float = Field(900.0, gt=0, description="seconds to wait for a replica's engine to start")
    object_store_memory: int | None = Field(None, ge=78_643_200, description="bytes; private local Ray only")
    runtime_env: dict[str, Any] = Field(default_factory=dict, description="passed to ray.init unchanged")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data
