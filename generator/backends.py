"""Config backend names → teacher classes (imported lazily: vLLM is heavy and optional)."""

from __future__ import annotations

import importlib
from typing import Any

from generator.teacher import Teacher

TEACHERS: dict[str, str] = {
    "vllm": "generator.vllm_teacher:VLLMTeacher",
    "openai": "generator.openai_teacher:OpenAITeacher",
}


def build_teacher(config: Any) -> Teacher:
    module_name, _, class_name = TEACHERS[config.backend].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    teacher: Teacher = cls(config)
    return teacher
