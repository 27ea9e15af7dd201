"""CLI commands for labeled data: `label` (auto-labeling) and `finetune classifier`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from generator.teacher import TeacherUnavailable
from service.cli_common import USER_ERRORS, fail, print_funnel


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
    from service.classify_pipeline import label_texts
    from service.domains import load_domain

    out = out or Path("runs") / f"label-{input.stem}"
    try:
        summary = label_texts(
            load_domain(domain), input, out, samples=samples, min_confidence=min_confidence, text_field=text_field
        )
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    except TeacherUnavailable as exc:
        typer.echo(
            f"error: {exc}\nThe journal keeps every finished completion: rerun the same command to resume.", err=True
        )
        raise typer.Exit(3) from None
    typer.echo(f"run directory: {summary.out_dir}")
    print_funnel(summary.funnel)


def finetune_classifier(
    run_dir: Annotated[Path, typer.Argument(help="a classification run directory")],
    test: Annotated[Path | None, typer.Option(help="labeled test file (JSONL/CSV with text, label)")] = None,
    out: Annotated[Path | None, typer.Option(help="output dir (default RUN_DIR/classifier)")] = None,
    student: Annotated[str | None, typer.Option(help="local HF encoder dir (default: embedded MiniLM)")] = None,
    epochs: Annotated[int | None, typer.Option(help="override student.epochs")] = None,
    max_steps: Annotated[int | None, typer.Option(help="override student.max_steps")] = None,
    seeds_baseline: Annotated[bool, typer.Option(help="also train on the seed examples alone")] = True,
    teacher_baseline: Annotated[bool, typer.Option(help="teacher zero-shot accuracy on --test")] = True,
) -> None:
    """Fine-tune the classifier student on a run's kept rows; write the model and metrics.json."""
    from service.classify_student import finetune_classifier as run
    from service.classify_student import summary_table

    overrides: dict[str, Any] = {
        k: v for k, v in {"student": student, "epochs": epochs, "max_steps": max_steps}.items() if v is not None
    }
    try:
        metrics = run(
            run_dir,
            test_file=test,
            out_dir=out,
            overrides=overrides,
            seeds_baseline=seeds_baseline,
            teacher_baseline=teacher_baseline,
        )
    except USER_ERRORS as exc:
        fail(str(exc))
        return
    typer.echo(f"metrics: {(out or run_dir / 'classifier') / 'metrics.json'}")
    typer.echo(summary_table(metrics))
