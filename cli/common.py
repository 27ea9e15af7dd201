"""Helpers shared by the CLI modules: user errors print one line and exit 2, never a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

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


@contextlib.contextmanager
def live_lines(out: Path, console: TextIO, enabled: bool) -> Iterator[None]:
    """The live stage lines on `console` for the block, if `enabled`."""
    if not enabled:
        yield
        return
    from cli.live import LiveLines

    with LiveLines(out, console):
        yield


def engine_log_hint(out: Path) -> None:
    """After a failure, where the engine's and libraries' own messages went."""
    from cli.quiet import ENGINE_LOG

    if (out / ENGINE_LOG).exists():
        typer.echo(f"engine and library log: {out / ENGINE_LOG}", err=True)


def print_funnel(funnel: dict[str, Any]) -> None:
    typer.echo(f"candidates {funnel['candidates']}  kept {funnel['kept']}  rejected {funnel['rejected_total']}")
    for stage, reasons in funnel["rejected"].items():
        for reason, count in reasons.items():
            typer.echo(f"  {stage:<20} {reason:<28} {count}")
