"""`seedforge export RUN_DIR --format ...`: a run's kept rows as split files for trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.choices import ExportFormat
from cli.common import USER_ERRORS, fail
from outputs.export import DEFAULT_SPLIT, ExportError


def export(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `seedforge generate`")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="the trainer's file format")],
    split: Annotated[
        str, typer.Option(help="train[,validation],test fractions summing to 1 (1 number: train only)")
    ] = DEFAULT_SPLIT,
    seed: Annotated[int, typer.Option(help="seed of the shuffle before splitting")] = 0,
    out: Annotated[Path | None, typer.Option(help="output directory (default: RUN_DIR/export/FORMAT)")] = None,
) -> None:
    """Export the kept rows as messages JSONL, alpaca / sharegpt JSON, a HF dataset or parquet.

    Multi-turn rows keep every turn. The output dir is replaced as a whole (only if it is an
    earlier export) and holds export.json (source version, split, seed, counts) and a README.
    """
    from outputs.export import export as run_export

    try:
        manifest = run_export(run_dir, fmt.value, split=split, seed=seed, out=out)
    except (ExportError, OSError, *USER_ERRORS) as exc:
        fail(str(exc))
        return
    source = manifest["source"]
    typer.echo(f"export: {manifest['out_dir']} ({fmt.value}, from version {source['version']} of {run_dir})")
    for name, count in manifest["rows"].items():
        typer.echo(f"  {name:<11} {count} rows")
    if manifest["multi_turn_rows"]:
        typer.echo(f"  multi-turn rows: {manifest['multi_turn_rows']}")
