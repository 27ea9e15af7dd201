from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GENERAL_SEEDS = EXAMPLES / "general" / "seed_tasks.jsonl"


def cli_env() -> dict[str, str]:
    """Environment for `python -m service ...` subprocesses: this checkout's packages first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "service", *args]


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
    from generator.config import TeacherConfig
    from generator.vllm_teacher import VLLMTeacher

    teacher = VLLMTeacher(TeacherConfig(enforce_eager=True))
    _ = teacher.llm
    yield teacher
    teacher.close()
