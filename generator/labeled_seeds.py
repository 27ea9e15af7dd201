"""Compatibility path, removed in phase 2 of issue 14: the module is now generator.seeds.labeled.

Kept only for modules another branch is changing (service/classify_student.py, service/cli_classify.py,
tests/test_classify_vllm.py); everything else imports generator.seeds.labeled.
"""

from generator.seeds.labeled import read_labeled

__all__ = ["read_labeled"]
