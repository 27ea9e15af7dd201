"""CLI commands for labeled data: `label` (auto-labeling) and `finetune classifier`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.choices import Recipe, SelectOn
from cli.common import USER_ERRORS, engine_log_hint, fail, print_funnel, teacher_unavailable
from cli.quiet import quiet_run
from generator.teachers.base import TeacherUnavailable


def label(
    input: Annotated[Path, typer.Option(help="texts to label: JSONL (a text field), CSV or one text per line")],
    domain: Annotated[Path, typer.Option(help="classification domain file (labels, task, teacher)")],
    out: Annotated[Path | None, typer.Option(help="run directory to write (default: runs/label-INPUT_STEM)")] = None,
    samples: Annotated[int, typer.Option(min=1, help="self-consistency votes per text")] = 3,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of votes the winning label needs")
    ] = 0.6,
    text_field: Annotated[str, typer.Option(help="JSONL/CSV field holding the text")] = "text",
) -> None:
    """Auto-label existing texts with the teacher; low-confidence rows go to rejected.jsonl."""
    from conf.domains import load_domain
    from pipeline.label import label_texts

    out = out or Path("runs") / f"label-{input.stem}"
    try:
        with quiet_run(out):
            summary = label_texts(
                load_domain(domain), input, out, samples=samples, min_confidence=min_confidence, text_field=text_field
            )
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    except TeacherUnavailable as exc:
        engine_log_hint(out)
        teacher_unavailable(exc)
    typer.echo(f"run directory: {summary.out_dir}")
    print_funnel(summary.funnel)


def finetune_classifier(
    run_dir: Annotated[Path, typer.Argument(help="a classification run directory")],
    test: Annotated[Path | None, typer.Option(help="labeled test file (JSONL/CSV with text, label)")] = None,
    out: Annotated[Path | None, typer.Option(help="output dir (default RUN_DIR/classifier)")] = None,
    recipe: Annotated[
        Recipe | None, typer.Option(help="student recipe (default: student.recipe of the domain)")
    ] = None,
    select_on: Annotated[
        SelectOn | None,
        typer.Option(help="rows that decide student vs seeds-only (default: test if --test, else seeds k-fold)"),
    ] = None,
    min_rows_per_label: Annotated[
        int | None, typer.Option(min=1, help="refuse a run with a label under this many kept rows (default 8)")
    ] = None,
    student: Annotated[str | None, typer.Option(help="local encoder dir (default: embedded MiniLM)")] = None,
    epochs: Annotated[int | None, typer.Option(help="override student.finetune.epochs")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="cap training steps of the setfit and finetune recipes (smoke runs)")
    ] = None,
    seeds_baseline: Annotated[bool, typer.Option(help="also train on the seed examples alone, every recipe")] = True,
    teacher_baseline: Annotated[bool, typer.Option(help="teacher zero-/few-shot accuracy on --test")] = True,
) -> None:
    """Train the classifier student on a run's kept rows + seeds; report its value against the baselines."""
    from pipeline.classify_student import finetune_classifier as run
    from pipeline.classify_student import summary_table

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "recipe": recipe.value if recipe else None,
            "student": student,
            "min_rows_per_label": min_rows_per_label,
        }.items()
        if v is not None
    }
    if epochs is not None:
        overrides.setdefault("finetune", {})["epochs"] = epochs
    if max_steps is not None:
        overrides.setdefault("finetune", {})["max_steps"] = max_steps
        overrides["setfit"] = {"max_steps": max_steps}
    try:
        # The teacher baselines start an engine: its output goes to the classifier dir's log.
        quiet = quiet_run(out or run_dir / "classifier") if run_dir.is_dir() else contextlib.nullcontext()
        with quiet:
            metrics = run(
                run_dir,
                test_file=test,
                out_dir=out,
                overrides=overrides,
                seeds_baseline=seeds_baseline,
                teacher_baseline=teacher_baseline,
                select_on=select_on.value if select_on else None,
            )
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    typer.echo(f"metrics: {(out or run_dir / 'classifier') / 'metrics.json'}")
    typer.echo(summary_table(metrics))
