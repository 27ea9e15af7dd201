"""Causal-LM student: TRL `SFTTrainer` on a run's chat rows, LoRA via PEFT, evaluated before/after.

Loss covers only the answer: each conversation is split into a conversational prompt and its
final assistant turn, rendered with the student's own chat template, and TRL masks the prompt.
Validation loss is measured on a held-out split before and after training (and picks the
learning rate when `lr_search` lists several); the user's eval file adds ROUGE-L to references
and, when the pipeline injects a judge, a pairwise win rate of the trained student over itself
untrained. Everything is written to a temporary sibling directory and moved into place at the
end, so a failed run never leaves a half-written output behind.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.lm_config import LMConfig, make_sft_config, sft_values
from finetune.lm_data import Messages, chat_rows, read_eval_items, split_rows, to_prompt_completion, truncation_report
from finetune.lm_eval import JudgeFn, generate_answers, mean_rouge_l, win_rate
from finetune.lm_model import (
    ADAPTER_DIR,
    MODEL_DIR,
    build_trainer,
    check_assistant_masks,
    load_student,
    load_student_tokenizer,
    reload_trained,
    student_dtype,
)
from prompts import Record


@dataclass
class LMResult:
    out_dir: Path
    artifact: Path  # the adapter dir (LoRA) or the full model dir
    metrics: dict[str, Any]
    merge_command: str | None


def _dataset(rows: list[Messages], assistant_masks: bool) -> Any:
    from datasets import Dataset

    if assistant_masks:  # every assistant turn carries loss (multi-turn rows), via template markers
        return Dataset.from_list([{"messages": r} for r in rows])
    return Dataset.from_list(to_prompt_completion(rows))


def _loss_entry(evaluation: dict[str, float] | None) -> dict[str, float] | None:
    if evaluation is None:
        return None
    loss = float(evaluation["eval_loss"])
    return {
        "loss": round(loss, 5),
        "perplexity": round(math.exp(loss), 4) if loss < 50 else math.inf,
        "mean_token_accuracy": round(float(evaluation.get("eval_mean_token_accuracy", math.nan)), 4),
    }


def train_lm(
    records: Sequence[Record],
    student: str | Path,
    out_dir: str | Path,
    config: LMConfig,
    *,
    source: str = "",
    eval_path: str | Path | None = None,
    judge: JudgeFn | None = None,
    log: Callable[[str], None] = lambda _: None,
    extra_config: dict[str, Any] | None = None,
) -> LMResult:
    """Train on the records' conversations (`source`: where they come from, for errors and metrics)."""
    import torch

    rows = chat_rows(records, source or "train rows")
    items = read_eval_items(eval_path)[: config.eval.max_examples] if eval_path else []
    values = sft_values(config)
    tokenizer = load_student_tokenizer(student)
    assistant_masks = bool(values.get("assistant_only_loss"))
    if assistant_masks:
        check_assistant_masks(tokenizer)
    has_cuda = torch.cuda.is_available()
    train_rows, val_rows = split_rows(rows, config.validation_fraction, config.max_validation, config.seed)
    probe = make_sft_config(values, output_dir="/nonexistent/probe")
    report = truncation_report(tokenizer, train_rows, probe.max_length)
    log(
        f"pre-flight: {report['truncated']} of {report['rows']} training rows exceed max_length={probe.max_length} "
        f"tokens and will be truncated ({report['answer_lost']} lose their whole answer and are dropped); "
        f"longest {report['length']['max']}, p95 {report['length']['p95']}"
    )

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        result = _train_and_evaluate(
            config, student, tokenizer, train_rows, val_rows, items, judge, work, log, has_cuda, assistant_masks
        )
        resolved = {"student": config.model_dump(mode="json"), "sft_config": result.pop("_sft_config")}
        metrics = {
            "student": str(student),
            "train_file": source,
            "eval_file": str(eval_path) if eval_path else None,
            "method": "lora" if config.lora.enabled else "full",
            "device": "cuda" if has_cuda else "cpu",
            "loss_on": "assistant turns (template markers)" if assistant_masks else "final assistant turn",
            "rows": {"train": len(train_rows), "validation": len(val_rows), "eval": len(items)},
            "truncation": report,
            **result,
        }
        artifact_name = ADAPTER_DIR if config.lora.enabled else MODEL_DIR
        merge = f"seedforge finetune merge {out / ADAPTER_DIR} --out {out / 'merged'}" if config.lora.enabled else None
        metrics.update(artifact=str(out / artifact_name), merge_command=merge)
        (work / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
        _write_yaml(work / "config.yaml", {**resolved, **(extra_config or {})})
        shutil.rmtree(work / "checkpoints", ignore_errors=True)
        _replace_dir(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return LMResult(out, out / artifact_name, metrics, merge)


def _train_and_evaluate(
    config: LMConfig,
    student: str | Path,
    tokenizer: Any,
    train_rows: list[Messages],
    val_rows: list[Messages],
    items: list[Any],
    judge: JudgeFn | None,
    work: Path,
    log: Callable[[str], None],
    has_cuda: bool,
    assistant_masks: bool,
) -> dict[str, Any]:
    dtype = student_dtype(config, has_cuda)
    train_ds = _dataset(train_rows, assistant_masks)
    val_ds = _dataset(val_rows, assistant_masks) if val_rows else None
    model = load_student(student, dtype)
    device = "cuda" if has_cuda else "cpu"
    gen = config.eval
    before_answers: list[str] = []
    if items:
        log(f"generating {len(items)} eval answers with the untrained student")
        before_answers = generate_answers(
            model.to(device), tokenizer, [i.prompt for i in items], gen.max_new_tokens, gen.batch_size
        )
    candidates = list(config.lr_search) or [float(sft_values(config)["learning_rate"])]
    artifact = work / (ADAPTER_DIR if config.lora.enabled else MODEL_DIR)
    before_val = None
    searched, history = [], []
    best: tuple[float, int] | None = None
    best_after: dict[str, float] | None = None
    best_entry: dict[str, Any] = {}
    sft_dump: dict[str, Any] = {}
    for k, lr in enumerate(candidates):
        if k > 0:
            model = load_student(student, dtype)
        trainer = build_trainer(model, tokenizer, config, train_ds, val_ds, work, learning_rate=lr)
        if k == 0:
            sft_dump = trainer.args.to_dict()
            if val_ds is not None:
                before_val = trainer.evaluate(metric_key_prefix="eval")
                log(f"validation loss before training: {before_val['eval_loss']:.4f}")
        started = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - started
        after = trainer.evaluate(metric_key_prefix="eval") if val_ds is not None else None
        score = float(after["eval_loss"]) if after else float(output.training_loss)
        entry = {
            "learning_rate": lr,
            "train_loss": round(float(output.training_loss), 5),
            "validation_loss": round(float(after["eval_loss"]), 5) if after else None,
            "steps": int(trainer.state.global_step),
            "seconds": round(seconds, 2),
        }
        searched.append(entry)
        history += [{"candidate": k, "candidate_lr": lr, **h} for h in trainer.state.log_history]
        log(f"lr {lr:g}: train loss {entry['train_loss']}, validation loss {entry['validation_loss']}")
        if best is None or score < best[0]:
            best = (score, k)
            shutil.rmtree(artifact, ignore_errors=True)
            trainer.save_model(str(artifact))
            tokenizer.save_pretrained(str(artifact))
            best_after, best_entry = after, entry
        del trainer, model
        gc.collect()
    assert best is not None
    (work / "training_log.jsonl").write_text("".join(json.dumps(h, default=str) + "\n" for h in history))

    result: dict[str, Any] = {
        "learning_rate": candidates[best[1]],
        "lr_search": searched if len(candidates) > 1 else None,
        "train": best_entry,
        "validation": {"before": _loss_entry(before_val), "after": _loss_entry(best_after)},
        "generation": None,
        "_sft_config": {**sft_dump, "learning_rate": candidates[best[1]]},
    }
    if items:
        trained = reload_trained(artifact, student, dtype, config.lora.enabled).to(device)
        log(f"generating {len(items)} eval answers with the trained student")
        after_answers = generate_answers(
            trained, tokenizer, [i.prompt for i in items], gen.max_new_tokens, gen.batch_size
        )
        del trained
        judged = win_rate(items, before_answers, after_answers, judge, gen.seed) if judge and gen.judge else None
        result["generation"] = {
            "n": len(items),
            "max_new_tokens": gen.max_new_tokens,
            "rouge_l": {"before": mean_rouge_l(items, before_answers), "after": mean_rouge_l(items, after_answers)},
            "judge": {k: v for k, v in judged.items() if k != "items"} if judged else None,
        }
        lines = []
        for i, item in enumerate(items):
            row = {"prompt": item.prompt, "reference": item.reference, "before": before_answers[i]}
            row["after"] = after_answers[i]
            if judged:
                row["judge"] = judged["items"][i]
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        (work / "eval_generations.jsonl").write_text("".join(lines), encoding="utf-8")
    return result


def _write_yaml(path: Path, data: Any) -> None:
    import yaml

    path.write_text(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False), encoding="utf-8")


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished output into place; an older output is removed only after that."""
    old = None
    if dst.exists():
        old = dst.parent / f".{dst.name}.old-{os.getpid()}"
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
