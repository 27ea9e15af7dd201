"""Compatibility path for files another branch is changing (service/classify_student.py,
service/cli_classify.py, bench/student_value.py, tests/test_classify_vllm.py): the module is now
conf.domains. Phase 2b of issue 14 deletes this file."""

from conf.domains import ClassifyDomain, LoadedDomain, load_any_domain, load_domain

__all__ = ["ClassifyDomain", "LoadedDomain", "load_any_domain", "load_domain"]
