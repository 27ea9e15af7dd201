"""`seedforge` command line. Each command parses arguments, calls one function, prints a summary.

Errors the user can fix (bad seed file, bad config, unknown model) are printed as one clear
message with exit code 2, never as a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from generator.seeds import SeedsConfig, lint_seeds
from generator.teachers.base import TeacherUnavailable
from generator.teachers.models import list_models
from service import cli_classify, cli_dedup, cli_export, cli_filter, cli_finetune_lm, cli_report
from service.cli_common import USER_ERRORS, fail, print_funnel
from service.cli_service import register as register_service_commands
from service.config import load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Turn seed examples into a fine-tuning dataset.")
seeds_app = typer.Typer(no_args_is_help=True, help="Inspect seed files.")
app.add_typer(seeds_app, name="seeds")
finetune_app = typer.Typer(no_args_is_help=True, help="Fine-tune a student on a run's kept rows.")
app.add_typer(finetune_app, name="finetune")
app.command("label")(cli_classify.label)
app.command("report")(cli_report.report)
app.command("estimate")(cli_report.estimate)
finetune_app.command("classifier")(cli_classify.finetune_classifier)
app.command("filter")(cli_filter.filter_run)
app.command("dedup")(cli_dedup.dedup)
finetune_app.command("lm")(cli_finetune_lm.finetune_lm)
finetune_app.command("merge")(cli_finetune_lm.merge)
app.command("export")(cli_export.export)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="run directory to write")],
    seeds: Annotated[
        Path | None, typer.Option(help="seed file (Self-Instruct JSONL, Alpaca JSON, JSONL, CSV, text)")
    ] = None,
    domain: Annotated[Path | None, typer.Option(help="domain file (or dir holding domain.yaml)")] = None,
    num: Annotated[int | None, typer.Option(help="target number of kept rows")] = None,
    teacher: Annotated[str | None, typer.Option(help="teacher model: embedded name, HF dir or .gguf")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config")] = None,
    seed_format: Annotated[str | None, typer.Option(help="seed format (default: detect)")] = None,
    skip_bad_lines: Annotated[bool, typer.Option(help="use the valid lines of a partly bad seed file")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    resume: Annotated[
        bool, typer.Option(help="reuse the journal of an existing run dir (only missing requests are sent)")
    ] = True,
    max_tokens_budget: Annotated[
        int | None, typer.Option(help="stop cleanly once this many tokens (in + out) are spent")
    ] = None,
    executor: Annotated[str | None, typer.Option(help="where teacher calls run: local (default) or ray")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); implies --executor ray")
    ] = None,
    replicas: Annotated[int | None, typer.Option(help="teacher replicas (Ray actors, one engine each)")] = None,
) -> None:
    """Generate a dataset: instruction/response pairs from --seeds, or labeled pairs from a --domain.

    Killed or failed? Run the same command again: it resumes from the run's journal.
    """
    if domain is not None:
        # A domain file is self-contained (its own seeds, teacher and filters): mixing in the
        # instruction-data options would be silently ignored, so refuse them.
        clashing = {
            "--seeds": seeds,
            "--config": config,
            "--seed-format": seed_format,
            "--skip-bad-lines": skip_bad_lines,
        }
        given = [name for name, value in clashing.items() if value]
        if given:
            fail(f"--domain cannot be combined with {', '.join(given)} (the domain file holds its seeds and settings)")
    cluster = _executor_overrides(executor, ray_address, replicas)
    from service.classify_pipeline import QuotaShortfall

    short: QuotaShortfall | None = None
    try:
        if domain is not None:
            summary = _generate_domain(domain, out, num, teacher, progress, resume, max_tokens_budget, cluster)
        elif seeds is not None:
            summary = _generate_instructions(
                seeds,
                out,
                num,
                teacher,
                config,
                seed_format,
                skip_bad_lines,
                progress,
                resume,
                max_tokens_budget,
                cluster,
            )
        else:
            fail("give --seeds FILE (instruction data) or --domain FILE (a domain file)")
            return
    except QuotaShortfall as exc:
        short, summary = exc, exc.summary
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    except TeacherUnavailable as exc:
        typer.echo(
            f"error: {exc}\nThe journal keeps every finished completion: rerun the same command to resume.", err=True
        )
        raise typer.Exit(3) from None
    _print_summary(summary)
    if short is not None:
        # Published (nothing is lost) but not usable as it is: say why and fail loudly.
        typer.echo(f"error: {short.explain()}", err=True)
        raise typer.Exit(4)


def _print_summary(summary: Any) -> None:
    typer.echo(f"run directory: {summary.out_dir} (version {summary.manifest['version']})")
    typer.echo(f"  train.jsonl  {summary.funnel['kept']} rows")
    typer.echo(f"  rejected.jsonl  {summary.funnel['rejected_total']} rows")
    print_funnel(summary.funnel)
    for label, entry in summary.stats.get("labels", {}).items():
        typer.echo(
            f"  label {label:<16} target {entry['target']:>4}  kept {entry['kept']:>4}  shortfall {entry['shortfall']}"
        )
    teacher_stats = summary.stats["teacher"]
    typer.echo(
        f"teacher: {teacher_stats['calls']} requests sent, {teacher_stats['cached']} answered from the journal, "
        f"{teacher_stats['completion_tokens']} tokens out, {teacher_stats['tokens_per_second']} tokens/s"
    )


def _executor_overrides(executor: str | None, address: str | None, replicas: int | None) -> dict[str, Any]:
    """--executor/--ray-address/--replicas as an `executor:` override (the YAML may set them too)."""
    out: dict[str, Any] = {}
    if executor is not None:
        out["kind"] = executor
    if address is not None:
        out["address"] = address
        out.setdefault("kind", "ray")
    if replicas is not None:
        out["replicas"] = replicas
    return out


def _generate_instructions(
    seeds: Path,
    out: Path,
    num: int | None,
    teacher: str | None,
    config: Path | None,
    seed_format: str | None,
    skip_bad_lines: bool,
    progress: bool,
    resume: bool,
    max_tokens_budget: int | None,
    cluster: dict[str, Any],
) -> Any:
    from service.pipeline import generate as run_generate

    overrides: dict[str, Any] = {"executor": cluster} if cluster else {}
    if num is not None:
        overrides.setdefault("generation", {})["num"] = num
    if max_tokens_budget is not None:
        overrides.setdefault("generation", {})["max_tokens_budget"] = max_tokens_budget
    if teacher is not None:
        overrides.setdefault("teacher", {})["model"] = teacher
    if seed_format is not None:
        overrides.setdefault("seeds", {})["format"] = seed_format
    if skip_bad_lines:
        overrides.setdefault("seeds", {})["skip_bad_lines"] = True
    return run_generate(load_config(config, overrides), seeds, out, progress=progress, resume=resume)


def _generate_domain(
    domain: Path,
    out: Path,
    num: int | None,
    teacher: str | None,
    progress: bool,
    resume: bool,
    max_tokens_budget: int | None,
    cluster: dict[str, Any],
) -> Any:
    from service.classify_pipeline import generate_labeled
    from service.domains import LoadedInstructDomain, load_any_domain, read_yaml

    overrides: dict[str, Any] = {"executor": cluster} if cluster else {}
    if max_tokens_budget is not None:
        overrides["generation"] = {"max_tokens_budget": max_tokens_budget}
    path = domain / "domain.yaml" if domain.is_dir() else domain
    if read_yaml(path)[0].get("kind") == "instruct":
        if num is not None:
            overrides.setdefault("generation", {})["num"] = num
        if teacher is not None:
            overrides["teacher"] = {"model": teacher}
        instruct = load_any_domain(path, overrides)
        assert isinstance(instruct, LoadedInstructDomain)
        from service.pipeline import generate as run_generate

        return run_generate(instruct.domain.run_config(), instruct.seeds_path, out, progress=progress, resume=resume)
    if num is not None:
        overrides["targets"] = {"total": num, "per_label": None}
    loaded = load_any_domain(path, overrides)
    assert not isinstance(loaded, LoadedInstructDomain)
    if teacher is not None:
        loaded.domain = loaded.domain.model_copy(
            update={"teacher": loaded.domain.teacher.model_copy(update={"model": teacher})}
        )
    return generate_labeled(loaded, out, progress=progress, resume=resume)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="directory for the new domain (created if missing)")],
    kind: Annotated[str, typer.Option(help="instruct (instruction/response pairs) or classify (labeled texts)")] = (
        "instruct"
    ),
    force: Annotated[bool, typer.Option(help="overwrite an existing domain.yaml / seeds.jsonl")] = False,
) -> None:
    """Start a new task domain: a commented domain.yaml (and a seeds.jsonl template for instruct)."""
    from service.domain_init import init_domain

    if kind not in ("instruct", "classify"):
        fail(f"--kind: expected instruct or classify, got {kind!r}")
        return
    try:
        written = init_domain(directory, "instruct" if kind == "instruct" else "classify", force=force)
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    for path in written:
        typer.echo(f"wrote {path}")
    seeds = " and the seed tasks in seeds.jsonl" if kind == "instruct" else " (labels and their seed examples)"
    typer.echo(f"next: replace every TODO in domain.yaml{seeds}, then")
    typer.echo(f"  seedforge generate --domain {directory} --out runs/{directory.name or 'domain'}")


@app.command()
def models() -> None:
    """List the models Seedforge can use offline and where they are cached."""
    for row in list_models():
        typer.echo(f"{row['name']}  [{row['role']}]  {row['status']}")
        typer.echo(f"    package: {row['package']}  source: {row['source'] or '-'}")
        typer.echo(f"    cache:   {row['cache']}")


@seeds_app.command("lint")
def seeds_lint(
    file: Annotated[Path, typer.Argument(help="seed file")],
    seed_format: Annotated[str, typer.Option("--format", help="seed format (default: detect)")] = "auto",
    field: Annotated[list[str] | None, typer.Option(help="field mapping, e.g. instruction=question")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Report count, duplicates, empty fields, lengths and problems before spending teacher time."""
    try:
        mapping = dict(item.split("=", 1) for item in field or [])
        report = lint_seeds(file, SeedsConfig.model_validate({"format": seed_format, "fields": mapping}))
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


@app.callback()
def _global_options(
    log_format: Annotated[str, typer.Option(help="log lines as 'text' or 'json' (one object per line)")] = "text",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ...")] = "WARNING",
) -> None:
    from rundir.logs import setup_logging

    setup_logging(log_format, log_level)


register_service_commands(app)  # serve, submit, status, cancel, download


def main() -> None:
    app()
