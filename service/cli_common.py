"""Compatibility path for service/cli_classify.py (another branch is changing it): the module is
now cli.common. Phase 2b of issue 14 moves cli_classify into cli/ and deletes this file."""

from cli.common import USER_ERRORS, fail, print_funnel

__all__ = ["USER_ERRORS", "fail", "print_funnel"]
