"""The teacher backends, and how a run's teacher is built from its `teacher:` config section.

A new backend is one module (a `TeacherConfigBase` subclass with `backend: Literal["name"]` and
the teacher class taking it) plus one line in `TEACHERS`. The `teacher:` section is the union of
the registered configs, chosen by `backend` (the first entry is the default); its errors keep
naming file, line and field (`teacher.api_key_env: ...`).

Saved sections (a run's config.yaml, a job record) list every registered backend's fields, the
other backends' at their defaults, in registry order — the shape run directories have always
had. Reading one back accepts another backend's field only at its default, so a setting that
would be ignored (`backend: vllm` with `concurrency: 8`) is an error rather than a no-op.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, SerializationInfo, TypeAdapter, ValidationError

from generator.teachers.base import Teacher, TeacherConfigBase
from generator.teachers.executor import ExecutorConfig, TeacherFactory
from generator.teachers.openai import OpenAIConfig, OpenAITeacher
from generator.teachers.ray import RayTeacher
from generator.teachers.vllm import VLLMConfig, VLLMTeacher


@dataclass(frozen=True)
class Backend:
    config: type[TeacherConfigBase]
    # Builds one engine from its config. Its module is imported with the registry, so it must stay
    # light: heavy libraries (vllm, torch) are imported when the engine is first used.
    teacher: Any


TEACHERS: dict[str, Backend] = {
    "vllm": Backend(VLLMConfig, VLLMTeacher),
    "openai": Backend(OpenAIConfig, OpenAITeacher),
}


@functools.cache
def _defaults(config: type[TeacherConfigBase], mode: str) -> dict[str, Any]:
    # Backend configs give every field a default (the base class cannot).
    return config.model_construct().model_dump(mode=mode)  # type: ignore[call-arg]


def _is_default_elsewhere(backend: str, key: str, value: Any) -> bool:
    """`key` belongs to another backend and `value` is its default there (a saved section)."""
    return any(
        value in (_defaults(other.config, "python")[key], _defaults(other.config, "json")[key])
        for name, other in TEACHERS.items()
        if name != backend and key in other.config.model_fields
    )


def _validate(data: Any) -> TeacherConfigBase:
    if isinstance(data, TeacherConfigBase) and data.backend in TEACHERS:
        return data
    name = data.get("backend", next(iter(TEACHERS))) if isinstance(data, dict) else next(iter(TEACHERS))
    backend = TEACHERS.get(name) if isinstance(name, str) else None
    if backend is None:
        names = [repr(n) for n in TEACHERS]
        expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        error = {"type": "literal_error", "loc": ("backend",), "input": name, "ctx": {"expected": expected}}
        raise ValidationError.from_exception_data("TeacherConfig", [error])  # type: ignore[list-item]
    if isinstance(data, dict):
        own = backend.config.model_fields
        data = {k: v for k, v in data.items() if k in own or not _is_default_elsewhere(name, k, v)}
    return backend.config.model_validate(data)


def _dump(config: TeacherConfigBase, info: SerializationInfo) -> dict[str, Any]:
    values = config.model_dump(mode=info.mode)
    out: dict[str, Any] = {}
    for backend in TEACHERS.values():
        source = values if isinstance(config, backend.config) else copy.deepcopy(_defaults(backend.config, info.mode))
        for key in backend.config.model_fields:
            if key in values or key in source:  # neither: a field left out unless set (in_flight)
                out.setdefault(key, values[key] if key in values else source[key])
    return out


# The `teacher:` section of every config (run, domain, service settings).
TeacherConfig = Annotated[TeacherConfigBase, PlainValidator(_validate), PlainSerializer(_dump)]
_ADAPTER: TypeAdapter[TeacherConfigBase] = TypeAdapter(TeacherConfig)


def default_teacher_config() -> TeacherConfigBase:
    return next(iter(TEACHERS.values())).config()  # type: ignore[call-arg]


def parse_teacher_config(data: Any) -> TeacherConfigBase:
    """A `teacher:` section (a mapping, e.g. from a run's config.yaml) as its backend's config."""
    return _ADAPTER.validate_python(data)


def dump_teacher_config(config: TeacherConfigBase) -> dict[str, Any]:
    """The saved form of a teacher section (JSON types), as config.yaml and job records hold it."""
    dumped: dict[str, Any] = _ADAPTER.dump_python(config, mode="json")
    return dumped


def build_teacher(config: TeacherConfigBase) -> Teacher:
    """One engine for `config` (unstarted: engines start on first use)."""
    teacher: Teacher = TEACHERS[config.backend].teacher(config)
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
