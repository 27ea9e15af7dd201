"""Helpers shared by the CLI modules: user errors print one line and exit 2, never a traceback."""

from __future__ import annotations

from typing import Any

import typer

from conf.yamlconf import ConfigError
from generator.seeds import SeedFileError
from generator.teachers.models import ModelNotFound
from pipeline.filtering import FilterSetupError
from rundir import BadRow, CorruptArtifact, NotARunDirectory, RunExists, RunLocked

USER_ERRORS = (
    SeedFileError,
    ConfigError,
    ModelNotFound,
    RunExists,
    RunLocked,
    FilterSetupError,
    NotARunDirectory,
    BadRow,
    CorruptArtifact,
)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def teacher_unavailable(exc: Exception, kept: str = "every finished completion") -> None:
    """Exit 3: the teacher went away; the journal keeps `kept`, so the same command resumes."""
    typer.echo(f"error: {exc}\nThe journal keeps {kept}: rerun the same command to resume.", err=True)
    raise typer.Exit(3)


def print_funnel(funnel: dict[str, Any]) -> None:
    typer.echo(f"candidates {funnel['candidates']}  kept {funnel['kept']}  rejected {funnel['rejected_total']}")
    for stage, reasons in funnel["rejected"].items():
        for reason, count in reasons.items():
            typer.echo(f"  {stage:<20} {reason:<28} {count}")
