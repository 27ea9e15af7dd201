"""CLI commands for the causal-LM student: `finetune lm` and `finetune merge`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.choices import MergeDtype
from cli.common import USER_ERRORS, fail

FLOAT32 = MergeDtype("float32")  # the default


def _user_errors() -> tuple[type[BaseException], ...]:
    from finetune.lm_data import LMInputError

    return (*USER_ERRORS, LMInputError)


def finetune_lm(
    run_dir: Annotated[Path, typer.Argument(help="a run directory holding train.jsonl")],
    student: Annotated[
        str | None,
        typer.Option(help="student: embedded name, HF causal-LM dir or .gguf (default: embedded SmolLM2-135M)"),
    ] = None,
    lora: Annotated[
        bool | None, typer.Option("--lora/--no-lora", help="LoRA adapter (default) or full fine-tune")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="student YAML: lora, lr_search, eval, sft (trl.SFTConfig)")
    ] = None,
    eval_file: Annotated[
        Path | None, typer.Option("--eval", help="eval JSONL: instruction, optional input, reference (or messages)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output dir (default RUN_DIR/lm)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="override sft.max_steps")] = None,
    packing: Annotated[
        bool | None,
        typer.Option("--packing/--no-packing", help="override sft.packing (best-fit packing, padding-free)"),
    ] = None,
    judge: Annotated[
        bool | None, typer.Option("--judge/--no-judge", help="teacher-judged win rate on --eval (default on)")
    ] = None,
    teacher: Annotated[str | None, typer.Option(help="judge model (default: the run's teacher)")] = None,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) of a causal-LM student on a run's kept rows.

    Writes the adapter (or model), tokenizer, metrics.json (validation loss/perplexity, eval
    ROUGE-L and judged win rate, before and after), config.yaml and training_log.jsonl.
    """
    from pipeline.lm_student import finetune_lm as run
    from pipeline.lm_student import summary_lines

    overrides: dict[str, Any] = {}
    if student is not None:
        overrides["student"] = student
    if lora is not None:
        overrides["lora"] = {"enabled": lora}
    sft: dict[str, Any] = {}
    if max_steps is not None:
        sft["max_steps"] = max_steps
    if packing is not None:
        sft["packing"] = packing
    if sft:
        overrides["sft"] = sft
    if judge is not None:
        overrides["eval"] = {"judge": judge}
    try:
        result = run(
            run_dir,
            config_path=config,
            overrides=overrides,
            out_dir=out,
            eval_file=eval_file,
            teacher_model=teacher,
            log=lambda line: typer.echo(line, err=True),
        )
    except _user_errors() as exc:
        fail(str(exc))
        return
    typer.echo(f"output: {result.out_dir}  (metrics.json, config.yaml, training_log.jsonl)")
    for line in summary_lines(result):
        typer.echo(line)


def merge(
    adapter_dir: Annotated[Path, typer.Argument(help="LoRA adapter dir written by `finetune lm`")],
    out: Annotated[Path, typer.Option(help="directory for the merged model")],
    base: Annotated[Path | None, typer.Option(help="base model dir (default: recorded in the adapter)")] = None,
    dtype: Annotated[
        MergeDtype, typer.Option(help="saved weights: float32 (exact merge) or bfloat16/float16 (half the size)")
    ] = FLOAT32,
) -> None:
    """Fold a LoRA adapter into its base model: a plain transformers model dir (e.g. for vLLM)."""
    from finetune.lm_model import merge_adapter

    try:
        path = merge_adapter(adapter_dir, out, base, dtype.value)
    except _user_errors() as exc:
        fail(str(exc))
        return
    typer.echo(f"merged model: {path}")
