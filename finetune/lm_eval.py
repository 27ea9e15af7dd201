"""Evaluating a causal-LM student on the user's eval file: generations, ROUGE-L, judged win rate.

The judge is the teacher, which this package must not reach: the pipeline injects a `JudgeFn`
that turns (instruction, reference, answer A, answer B) items into "A" | "B" | "tie" verdicts
(None when the judge failed). Which position the trained student takes is drawn per item with a
seeded coin and recorded, because LLM judges prefer one position; the share of "A" verdicts is
reported so that bias is visible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from finetune.lm_data import EvalItem
from textmetrics import rouge_l


@dataclass(frozen=True)
class JudgePair:
    instruction: str
    reference: str
    answer_a: str
    answer_b: str


JudgeFn = Callable[[Sequence[JudgePair]], list[str | None]]


def mean_rouge_l(items: Sequence[EvalItem], answers: Sequence[str]) -> float:
    if not items:
        return 0.0
    return round(sum(rouge_l(i.reference, a) for i, a in zip(items, answers, strict=True)) / len(items), 4)


def generate_answers(
    model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]], max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy answers rendered with the student's chat template (left-padded batches)."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues from the right edge of each row
    was_training = model.training
    model.eval()
    answers: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            texts = [
                tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                for p in prompts[start : start + batch_size]
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            with torch.no_grad():
                output = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            new = output[:, batch["input_ids"].shape[1] :]
            answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def win_rate(
    items: Sequence[EvalItem], before: Sequence[str], after: Sequence[str], judge: JudgeFn, seed: int
) -> dict[str, Any]:
    """Pairwise after-vs-before preference; ties count half, judge failures are left out."""
    rng = random.Random(seed)
    after_first = [rng.random() < 0.5 for _ in items]
    pairs = [
        JudgePair(item.instruction, item.reference, a if first else b, b if first else a)
        for item, a, b, first in zip(items, after, before, after_first, strict=True)
    ]
    verdicts = judge(pairs)
    if len(verdicts) != len(pairs):
        raise RuntimeError(f"judge returned {len(verdicts)} verdicts for {len(pairs)} pairs")
    rows, counts = [], {"after": 0, "before": 0, "tie": 0, "failed": 0}
    for verdict, first in zip(verdicts, after_first, strict=True):
        if verdict not in ("A", "B", "tie"):
            outcome = "failed"
        elif verdict == "tie":
            outcome = "tie"
        else:
            outcome = "after" if (verdict == "A") == first else "before"
        counts[outcome] += 1
        rows.append({"after_position": "A" if first else "B", "verdict": verdict, "winner": outcome})
    decided = counts["after"] + counts["before"] + counts["tie"]
    said_a = sum(1 for v in verdicts if v == "A")
    return {
        "n": len(pairs),
        "judged": decided,
        "wins": counts["after"],
        "losses": counts["before"],
        "ties": counts["tie"],
        "failed": counts["failed"],
        "win_rate": round((counts["after"] + 0.5 * counts["tie"]) / decided, 4) if decided else None,
        "after_in_position_a": sum(after_first),
        "verdict_a_share": round(said_a / decided, 4) if decided else None,
        "seed": seed,
        "items": rows,
    }
