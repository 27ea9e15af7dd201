"""Commands that prepare a run: `init` (a new domain), `models` (what runs offline), `seeds lint`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.choices import DomainKind, SeedFormatChoice
from cli.common import USER_ERRORS, fail
from generator.seeds import SeedsConfig, lint_seeds
from generator.teachers.models import list_models

INSTRUCT, DETECT = DomainKind("instruct"), SeedFormatChoice("auto")  # defaults


def init(
    directory: Annotated[Path, typer.Argument(help="directory for the new domain (created if missing)")],
    kind: Annotated[
        DomainKind, typer.Option(help="instruct (instruction/response pairs) or classify (labeled texts)")
    ] = INSTRUCT,
    force: Annotated[bool, typer.Option(help="overwrite an existing domain.yaml / seeds.jsonl")] = False,
) -> None:
    """Start a new task domain: a commented domain.yaml (and a seeds.jsonl template for instruct)."""
    from conf.domain_init import init_domain

    try:
        written = init_domain(directory, kind.value, force=force)
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    for path in written:
        typer.echo(f"wrote {path}")
    seeds = " and the seed tasks in seeds.jsonl" if kind.value == "instruct" else " (labels and their seed examples)"
    typer.echo(f"next: replace every TODO in domain.yaml{seeds}, then")
    typer.echo(f"  seedforge generate --domain {directory} --out runs/{directory.name or 'domain'}")


def models() -> None:
    """List the models Seedforge can use offline and where they are cached."""
    for row in list_models():
        typer.echo(f"{row['name']}  [{row['role']}]  {row['status']}")
        typer.echo(f"    package: {row['package']}  source: {row['source'] or '-'}")
        typer.echo(f"    cache:   {row['cache']}")


def seeds_lint(
    file: Annotated[Path, typer.Argument(help="seed file")],
    seed_format: Annotated[SeedFormatChoice, typer.Option("--format", help="seed format (auto: detect)")] = DETECT,
    field: Annotated[list[str] | None, typer.Option(help="field mapping, e.g. instruction=question")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Report count, duplicates, empty fields, lengths and problems before spending teacher time."""
    try:
        mapping = dict(item.split("=", 1) for item in field or [])
        report = lint_seeds(file, SeedsConfig.model_validate({"format": seed_format.value, "fields": mapping}))
    except (ValueError, OSError) as exc:
        fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(f"{report['path']}: {report['count']} seed task(s), format {report.get('format', '?')}")
        for key in ("duplicates", "empty_fields", "instruction_words", "classification_share"):
            if key in report:
                typer.echo(f"  {key}: {json.dumps(report[key])}")
        for err in report["errors"]:
            typer.echo(f"  problem: {err}")
    if not report["ok"]:
        raise typer.Exit(1)
