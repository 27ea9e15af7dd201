"""Configuration of the teacher and of generation, beside the code that reads it (TRL-style)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generator.models import EMBEDDED_TEACHER
from generator.teacher import SamplingConfig

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


class GenerationConfig(BaseModel):
    """Self-Instruct bootstrap knobs. Defaults follow the paper, scaled for a small teacher."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num: int = Field(50, ge=1, description="target number of kept rows")
    domain: str = ""
    seed: int = 0
    instructions_per_prompt: int = Field(5, ge=1, le=20)
    num_demos: int = Field(6, ge=1, description="demos per prompt (human + machine)")
    machine_demos: int = Field(2, ge=0, description="of num_demos, drawn from generated instructions")
    prompts_per_round: int = Field(64, ge=1, description="most instruction prompts per round (one batch)")
    min_prompts_per_round: int = Field(16, ge=1, description="fewest prompts per round, for engine throughput")
    max_rounds: int = Field(30, ge=1)
    max_attempts: int = Field(3, ge=1, description="tries per request before quarantine")
    overgenerate: float = Field(2.0, ge=1.0, description="expected candidates needed per kept row")
    max_tokens_budget: int | None = Field(None, ge=1, description="stop cleanly after this many tokens in+out")
    instruction_sampling: SamplingConfig = SamplingConfig(temperature=0.9, top_p=0.95, max_tokens=768)
    response_sampling: SamplingConfig = SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=512)

    @model_validator(mode="after")
    def _demos_fit(self) -> GenerationConfig:
        if self.machine_demos > self.num_demos:
            raise ValueError("machine_demos cannot exceed num_demos")
        if self.min_prompts_per_round > self.prompts_per_round:
            raise ValueError("min_prompts_per_round cannot exceed prompts_per_round")
        return self
