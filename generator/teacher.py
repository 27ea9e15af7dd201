"""Compatibility path, removed in phase 2 of issue 14: the module is now generator.teachers.base.

Kept only for modules another branch is changing (service/classify_student.py, service/cli_classify.py,
tests/test_classify_vllm.py); everything else imports generator.teachers.base.
"""

from generator.teachers.base import (
    ChatRequest,
    Completion,
    FinishReason,
    SamplingConfig,
    ScoreKind,
    StreamingTeacher,
    Teacher,
    TeacherUnavailable,
    normalize_finish_reason,
)

__all__ = [
    "ChatRequest",
    "Completion",
    "FinishReason",
    "SamplingConfig",
    "ScoreKind",
    "StreamingTeacher",
    "Teacher",
    "TeacherUnavailable",
    "normalize_finish_reason",
]
