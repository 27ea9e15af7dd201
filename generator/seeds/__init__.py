"""Seed files: Self-Instruct/Alpaca seed tasks and labeled example files, read completely and
validated (every problem named by file, line and field) before any teacher time is spent."""

from generator.seeds.labeled import read_labeled
from generator.seeds.lint import lint_seeds
from generator.seeds.readers import SeedError, SeedFileError
from generator.seeds.tasks import Instance, SeedFormat, SeedsConfig, SeedSet, SeedTask, detect_format, read_seeds

__all__ = [
    "Instance",
    "SeedError",
    "SeedFileError",
    "SeedFormat",
    "SeedSet",
    "SeedTask",
    "SeedsConfig",
    "detect_format",
    "lint_seeds",
    "read_labeled",
    "read_seeds",
]
