"""The CLI's fixed choices as Enums, so typer validates them (exit 2 naming the option) and
`--help` lists them. Each is built from the list the package that owns it keeps, so a new export
format, seed format or executor needs no edit here.

(mypy cannot see the members of an Enum built from a variable: hence the ignores; the members are
plain strings, used through `.value`.)
"""

from __future__ import annotations

from enum import Enum
from typing import get_args

from conf.domain_init import KINDS
from finetune.classifier_config import RecipeName
from finetune.lm_model import MERGE_DTYPES
from generator.seeds import SeedFormat
from generator.teachers.executor import ExecutorConfig
from outputs.formats.registry import FORMATS
from pipeline.classify_value import SelectOn as SelectOnName
from rundir.logs import LOG_FORMATS, LOG_LEVELS
from service.serve import LOG_LEVELS as SERVER_LOG_LEVELS

EXECUTORS: tuple[str, ...] = get_args(ExecutorConfig.model_fields["kind"].annotation)
DEDUP_METHODS = ("exact", "minhash")


def _members(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {value: value for value in values}


ExportFormat = Enum("ExportFormat", _members(list(FORMATS)), type=str)  # type: ignore[misc]
SeedFormatChoice = Enum("SeedFormatChoice", _members(get_args(SeedFormat)), type=str)  # type: ignore[misc]
Executor = Enum("Executor", _members(EXECUTORS), type=str)  # type: ignore[misc]
DomainKind = Enum("DomainKind", _members(KINDS), type=str)  # type: ignore[misc]
DedupMethod = Enum("DedupMethod", _members(DEDUP_METHODS), type=str)  # type: ignore[misc]
MergeDtype = Enum("MergeDtype", _members(MERGE_DTYPES), type=str)  # type: ignore[misc]
LogFormat = Enum("LogFormat", _members(LOG_FORMATS), type=str)  # type: ignore[misc]
LogLevel = Enum("LogLevel", _members(LOG_LEVELS), type=str)  # type: ignore[misc]
Recipe = Enum("Recipe", _members(get_args(RecipeName)), type=str)  # type: ignore[misc]
SelectOn = Enum("SelectOn", _members(get_args(SelectOnName)), type=str)  # type: ignore[misc]
ServerLogLevel = Enum("ServerLogLevel", _members(SERVER_LOG_LEVELS), type=str)  # type: ignore[misc]
