"""CLI commands for looking at runs: `report` and `estimate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import USER_ERRORS, engine_log_hint, fail, teacher_unavailable
from cli.quiet import ENGINE_LOG, quiet_run
from generator.teachers.base import TeacherUnavailable


def report(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """(Re)write RUN_DIR/report.html and the dataset card README.md from the run's artifacts."""
    from pipeline.runs import document_artifacts
    from rundir import RunDir

    run = RunDir(run_dir)
    try:
        version = run.read()  # every file from one version, even if a publish lands meanwhile
        kept, rejected = version.records("train.jsonl"), version.records("rejected.jsonl")
        stats, config = version.read_json("stats.json"), version.read_yaml("config.yaml") or {}
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    manifest = run.republish(document_artifacts(kept, rejected, stats, config, run_dir))
    typer.echo(f"report: {run_dir / 'report.html'} (version {manifest['version']})")
    typer.echo(f"dataset card: {run_dir / 'README.md'}")


def estimate(
    seeds: Annotated[Path, typer.Option(help="seed file")],
    num: Annotated[int, typer.Option(help="kept rows wanted")],
    teacher: Annotated[str | None, typer.Option(help="teacher model (default: config / embedded)")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config")] = None,
    calibration_prompts: Annotated[int, typer.Option(help="instruction prompts in the calibration batch")] = 8,
    gpu_hour_price: Annotated[float | None, typer.Option(help="price of one GPU hour, for a cost figure")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the estimate as JSON")] = False,
    log_dir: Annotated[
        Path | None, typer.Option(help="where the engine's log goes (default: runs/estimate-SEEDS_STEM)")
    ] = None,
) -> None:
    """Estimate prompts, tokens in/out, wall time and cost of a run from a short calibration batch."""
    from conf.config import load_config
    from pipeline.estimate import estimate as run_estimate

    overrides: dict[str, Any] = {"teacher": {"model": teacher}} if teacher else {}
    log_dir = log_dir or Path("runs") / f"estimate-{seeds.stem}"
    try:
        with quiet_run(log_dir):
            result = run_estimate(
                load_config(config, overrides),
                str(seeds),
                num,
                calibration_prompts=calibration_prompts,
                gpu_hour_price=gpu_hour_price,
            )
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    except TeacherUnavailable as exc:
        engine_log_hint(log_dir)
        teacher_unavailable(exc)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for line in estimate_lines(result, calibration_prompts):
        typer.echo(line)
    if (log_dir / ENGINE_LOG).exists():
        typer.echo(f"engine and library log: {log_dir / ENGINE_LOG}")


def estimate_lines(result: dict[str, Any], calibration_prompts: int) -> list[str]:
    plan, tokens = result["plan"], result["tokens"]
    low, high = tokens["total_interval_95"]
    lines = [
        f"estimate for {result['target']} kept rows with {result['teacher']['model']}:",
        f"  rounds {plan['rounds']}, instruction prompts {plan['instruction_prompts']}, "
        f"responses {plan['responses']}, expected kept {plan['expected_kept']}",
        f"  tokens in {tokens['in']}, out {tokens['out']}, total {tokens['total']} (95% interval {low}-{high})",
    ]
    if len(tokens["by_rounds"]) > 1:  # near a round boundary the interval spans two very different runs
        outcomes = ", ".join(
            f"{o['rounds']} ({o['probability']:.0%}): {o['interval_95'][0]}-{o['interval_95'][1]}"
            for o in tokens["by_rounds"]
        )
        lines.append(f"  by rounds needed: {outcomes}")
    lines.append(f"  wall time ~{result['wall_seconds']} s (from a {calibration_prompts}-prompt calibration)")
    if "cost" in result:
        lines.append(f"  cost ~{result['cost']['total']} at {result['cost']['gpu_hour_price']} per GPU hour")
    return lines
