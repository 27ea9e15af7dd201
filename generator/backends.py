"""Compatibility path, removed in phase 2 of issue 14: the module is now generator.teachers.registry.

Kept only for modules another branch is changing (service/classify_student.py, service/cli_classify.py,
tests/test_classify_vllm.py); everything else imports generator.teachers.registry.
"""

from generator.teachers.registry import TEACHERS, build_teacher, make_teacher

__all__ = ["TEACHERS", "build_teacher", "make_teacher"]
