"""Compatibility path for service/classify_student.py (another branch is changing it): the module
is now conf.yamlconf. Phase 2b of issue 14 deletes this file."""

from conf.yamlconf import ConfigError, deep_merge

__all__ = ["ConfigError", "deep_merge"]
