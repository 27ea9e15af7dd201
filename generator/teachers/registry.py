"""How a teacher is built: config backend names → teacher classes, one engine (`build_teacher`)
or the run's teacher on its executor (`make_teacher`: in process, or a Ray pool of engines).

Teacher modules are imported when first built: vLLM is heavy and optional."""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

from generator.teachers.base import Teacher
from generator.teachers.executor import ExecutorConfig, TeacherFactory
from generator.teachers.ray import RayTeacher

TEACHERS: dict[str, str] = {
    "vllm": "generator.teachers.vllm:VLLMTeacher",
    "openai": "generator.teachers.openai:OpenAITeacher",
}


def build_teacher(config: Any) -> Teacher:
    module_name, _, class_name = TEACHERS[config.backend].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    teacher: Teacher = cls(config)
    return teacher


def make_teacher(
    teacher_config: Any, executor: ExecutorConfig | None = None, factory: TeacherFactory | None = None
) -> Teacher:
    """The teacher for a run. `factory` builds one engine (default: from `teacher_config`); on the
    Ray executor it runs inside each replica, so it must be picklable (a partial of a class is)."""
    build = factory or partial(build_teacher, teacher_config)
    if executor is None or executor.kind == "local":
        return build()
    return RayTeacher(build, executor)
