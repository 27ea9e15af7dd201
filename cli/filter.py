"""`seedforge filter RUN_DIR [--config YAML]`: re-filter a run's candidates into a new version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conf.config import ConfigError, load_config
from generator.seeds import SeedFileError
from generator.teachers.base import TeacherUnavailable
from generator.teachers.models import ModelNotFound
from pipeline.filtering import FilterSetupError
from pipeline.refilter import RefilterError
from rundir import BadRow, NotARunDirectory, RunLocked

ERRORS = (
    RefilterError,
    FilterSetupError,
    ConfigError,
    SeedFileError,
    ModelNotFound,
    RunLocked,
    NotARunDirectory,
    BadRow,
)


def filter_run(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `seedforge generate`")],
    config: Annotated[
        Path | None, typer.Option(help="YAML config whose `filters` to apply (default: the run's config.yaml)")
    ] = None,
    seeds: Annotated[
        Path | None, typer.Option(help="seed file to prime dedup with (default: the run's, if unchanged)")
    ] = None,
) -> None:
    """Re-run the filter chains over a run's candidates and publish the result as a new version.

    Nothing is generated; only an `llm_judge` filter calls the teacher (answered from the run's
    journal when the same row was judged before).
    """
    from pipeline.refilter import refilter

    try:
        cfg = load_config(config) if config is not None else None
        summary = refilter(run_dir, cfg, seeds)
    except ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except TeacherUnavailable as exc:
        typer.echo(f"error: {exc}\nJudged rows are in the journal: rerun the same command to resume.", err=True)
        raise typer.Exit(3) from None
    info = summary.stats["refilter"]
    funnel = summary.funnel
    typer.echo(
        f"run directory: {summary.out_dir} (version {summary.manifest['version']}, "
        f"from version {info['source_version']}, replayed in {info['order']} order)"
    )
    typer.echo(
        f"candidates {info['candidates']} (+{info['carried_rejected']} carried rejected)  "
        f"kept {funnel['kept']}  rejected {funnel['rejected_total']}"
    )
    for stage, reasons in funnel["rejected"].items():
        for reason, count in reasons.items():
            typer.echo(f"  {stage:<20} {reason:<28} {count}")
    if not info["primed_with_seeds"]:
        typer.echo("note: dedup was not primed with the seeds (seed file missing or changed; see --seeds)")
