"""Configuration of the teacher, beside the code that reads it (TRL-style)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generator.teachers.models import EMBEDDED_TEACHER

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TeacherConfig(BaseModel):
    # hide_input_in_errors: a key pasted into api_key_env must not reach an error message.
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=(), hide_input_in_errors=True)

    # vllm: in-process engine. openai: an OpenAI-compatible server (`vllm serve`), see base_urls.
    backend: Literal["vllm", "openai"] = "vllm"
    # vllm: embedded name, HF dir or .gguf. openai: the served model name, or "auto" (the server's only model).
    model: str = f"embedded:{EMBEDDED_TEACHER}"
    revision: str | None = None  # override the content-derived revision (e.g. a git sha)
    dtype: str = "auto"
    max_model_len: int = Field(2048, ge=128)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    seed: int = 0
    # Skips torch.compile: ~35 s engine start instead of ~80 s on 2 CPU cores, ~20% fewer
    # tokens/s. Worth it for short runs and tests; long runs should leave it off.
    enforce_eager: bool = False
    engine_args: dict[str, Any] = Field(default_factory=dict)  # passed to vllm.LLM unchanged

    # --- backend "openai" (ignored by the in-process engine) ---
    base_urls: tuple[str, ...] = Field((), description="e.g. http://teacher:8000/v1; requests spread over all")
    # The *name* of an environment variable holding the key: the key itself never enters a config
    # file, a run directory or a job record.
    api_key_env: str | None = None
    concurrency: int = Field(32, ge=1, description="most requests in flight per base URL")
    timeout: float = Field(600.0, gt=0, description="seconds per HTTP attempt")
    max_retries: int = Field(4, ge=0, description="re-sends after a retryable error (connect, timeout, 429, 5xx)")
    backoff: float = Field(0.5, ge=0, description="wait before the first re-send; doubles each time, with jitter")
    backoff_max: float = Field(60.0, ge=0, description="longest wait, Retry-After included")

    @model_validator(mode="before")
    @classmethod
    def _remote_model_default(cls, data: Any) -> Any:
        # The embedded default names a file, not a served model: a remote teacher asks the server.
        if isinstance(data, dict) and data.get("backend") == "openai" and "model" not in data:
            return {**data, "model": "auto"}
        return data

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError("each base URL must start with http:// or https://")
        return tuple(u.rstrip("/") for u in urls)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        # Deliberately not echoing the value: if this fails, it may be the key itself.
        if name is not None and not ENV_NAME.match(name):
            raise ValueError("must be the name of an environment variable holding the key, not the key")
        return name

    @model_validator(mode="after")
    def _remote_needs_urls(self) -> TeacherConfig:
        if self.backend == "openai" and not self.base_urls:
            raise ValueError("backend 'openai' needs base_urls (e.g. [http://localhost:8000/v1])")
        return self
