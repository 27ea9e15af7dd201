"""Compatibility path, removed in phase 2 of issue 14: the module is now generator.teachers.models.

Kept only for modules another branch is changing (service/classify_student.py, service/cli_classify.py,
tests/test_classify_vllm.py); everything else imports generator.teachers.models.
"""

from generator.teachers.models import (
    EMBEDDED_ENCODER,
    EMBEDDED_TEACHER,
    ModelNotFound,
    ResolvedModel,
    cache_dir,
    convert_gguf,
    embedded_encoder_dir,
    embedded_file,
    list_models,
    resolve_model,
)

__all__ = [
    "EMBEDDED_ENCODER",
    "EMBEDDED_TEACHER",
    "ModelNotFound",
    "ResolvedModel",
    "cache_dir",
    "convert_gguf",
    "embedded_encoder_dir",
    "embedded_file",
    "list_models",
    "resolve_model",
]
