"""`seedforge generate`: instruction pairs from --seeds, or a run of a --domain file (either kind)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.choices import Executor, SeedFormatChoice
from cli.common import USER_ERRORS, engine_log_hint, fail, live_lines, print_funnel, teacher_unavailable
from cli.quiet import quiet_run
from conf.config import load_config
from generator.teachers.base import TeacherUnavailable


def generate(
    out: Annotated[Path, typer.Option(help="run directory to write")],
    seeds: Annotated[
        Path | None, typer.Option(help="seed file (Self-Instruct JSONL, Alpaca JSON, JSONL, CSV, text)")
    ] = None,
    domain: Annotated[Path | None, typer.Option(help="domain file (or dir holding domain.yaml)")] = None,
    num: Annotated[int | None, typer.Option(help="target number of kept rows")] = None,
    teacher: Annotated[str | None, typer.Option(help="teacher model: embedded name, HF dir or .gguf")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config")] = None,
    seed_format: Annotated[SeedFormatChoice | None, typer.Option(help="seed format (default: detect)")] = None,
    skip_bad_lines: Annotated[bool, typer.Option(help="use the valid lines of a partly bad seed file")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    resume: Annotated[
        bool, typer.Option(help="reuse the journal of an existing run dir (only missing requests are sent)")
    ] = True,
    max_tokens_budget: Annotated[
        int | None, typer.Option(help="stop cleanly once this many tokens (in + out) are spent")
    ] = None,
    executor: Annotated[Executor | None, typer.Option(help="where teacher calls run (default: local)")] = None,
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
    from pipeline.labeled import QuotaShortfall

    if domain is None and seeds is None:
        fail("give --seeds FILE (instruction data) or --domain FILE (a domain file)")
        return
    short: QuotaShortfall | None = None
    try:
        # The pipeline's own tqdm bar stays off: the console shows the live stage lines instead.
        with quiet_run(out) as console, live_lines(out, console, progress):
            if domain is not None:
                summary = _generate_domain(domain, out, num, teacher, False, resume, max_tokens_budget, cluster)
            else:
                assert seeds is not None
                summary = _generate_instructions(
                    seeds,
                    out,
                    num,
                    teacher,
                    config,
                    seed_format,
                    skip_bad_lines,
                    False,
                    resume,
                    max_tokens_budget,
                    cluster,
                )
    except QuotaShortfall as exc:
        short, summary = exc, exc.summary
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    except TeacherUnavailable as exc:
        engine_log_hint(out)
        teacher_unavailable(exc)
        return
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
    report = Path(summary.out_dir) / "report.html"
    if report.exists():
        typer.echo(f"report: {report}")


def _executor_overrides(executor: Any, address: str | None, replicas: int | None) -> dict[str, Any]:
    """--executor/--ray-address/--replicas as an `executor:` override (the YAML may set them too)."""
    out: dict[str, Any] = {}
    if executor is not None:
        out["kind"] = executor.value
    if address is not None:
        out["address"] = address
        out.setdefault("kind", "ray")
    if replicas is not None:
        out["replicas"] = replicas
    return out


def _overrides(
    cluster: dict[str, Any], max_tokens_budget: int | None, num: int | None = None, teacher: str | None = None
) -> dict[str, Any]:
    """The options a run config and an instruct domain share, as overrides of their sections."""
    overrides: dict[str, Any] = {"executor": cluster} if cluster else {}
    generation = {
        key: value for key, value in (("num", num), ("max_tokens_budget", max_tokens_budget)) if value is not None
    }
    if generation:
        overrides["generation"] = generation
    if teacher is not None:
        overrides["teacher"] = {"model": teacher}
    return overrides


def _generate_instructions(
    seeds: Path,
    out: Path,
    num: int | None,
    teacher: str | None,
    config: Path | None,
    seed_format: Any,
    skip_bad_lines: bool,
    progress: bool,
    resume: bool,
    max_tokens_budget: int | None,
    cluster: dict[str, Any],
) -> Any:
    from pipeline.instruct import generate as run_generate

    overrides = _overrides(cluster, max_tokens_budget, num, teacher)
    if seed_format is not None:
        overrides.setdefault("seeds", {})["format"] = seed_format.value
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
    from conf.domains import LoadedInstructDomain, load_any_domain, read_yaml
    from pipeline.instruct import generate as run_generate
    from pipeline.labeled import generate_labeled

    path = domain / "domain.yaml" if domain.is_dir() else domain
    if read_yaml(path)[0].get("kind") == "instruct":
        instruct = load_any_domain(path, _overrides(cluster, max_tokens_budget, num, teacher))
        assert isinstance(instruct, LoadedInstructDomain)
        return run_generate(instruct.domain.run_config(), instruct.seeds_path, out, progress=progress, resume=resume)
    overrides = _overrides(cluster, max_tokens_budget)
    if num is not None:
        overrides["targets"] = {"total": num, "per_label": None}
    loaded = load_any_domain(path, overrides)
    assert not isinstance(loaded, LoadedInstructDomain)
    if teacher is not None:
        loaded.domain = loaded.domain.model_copy(
            update={"teacher": loaded.domain.teacher.model_copy(update={"model": teacher})}
        )
    return generate_labeled(loaded, out, progress=progress, resume=resume)
