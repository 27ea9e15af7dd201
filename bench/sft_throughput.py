"""SFT throughput: padded batches vs packing (best-fit, padding-free) on the same rows and model.

Baseline: TRL's SFTTrainer with padded batches (packing off). Candidate: `packing: true` (TRL's
best-fit-decreasing packing, padding-free with per-sequence position ids, so no attention crosses
a row boundary). The figure is *real* tokens per second — non-padding tokens the model trains on
(TRL's `num_tokens`) over the wall time of the training steps — so padding costs show up.

    .venv/bin/python bench/sft_throughput.py                    # CPU: embedded SmolLM2-135M, float32
    python bench/sft_throughput.py --model /models/Qwen2.5-0.5B-Instruct --dtype bfloat16 --steps 30 --batch 8

Rows: synthetic chat pairs with a long-tailed answer length (most short, a few long), the shape
of generated instruction data, where padding to the longest row in a batch wastes most compute.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = [
    "the",
    "model",
    "data",
    "answer",
    "question",
    "river",
    "mountain",
    "light",
    "energy",
    "system",
    "value",
    "method",
    "result",
    "example",
]


def synthetic_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        length = min(int(rng.lognormvariate(3.6, 0.9)), 600)  # median ~37 words, long tail
        question = f"Question {i}: explain {' '.join(rng.choices(WORDS, k=rng.randint(4, 16)))}."
        answer = " ".join(rng.choices(WORDS, k=max(length, 3))) + "."
        rows.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "completion": [{"role": "assistant", "content": answer}],
            }
        )
    return rows


def run(model_dir: str, rows: list[dict], packing: bool, args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from finetune.lm_model import load_student, load_student_tokenizer

    has_cuda = torch.cuda.is_available()
    tokenizer = load_student_tokenizer(model_dir)
    model = load_student(model_dir, getattr(torch, args.dtype))
    with tempfile.TemporaryDirectory() as work:
        config = SFTConfig(
            output_dir=work,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch,
            max_length=args.max_length,
            packing=packing,
            learning_rate=1e-5,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            bf16=has_cuda and args.dtype == "bfloat16",
            use_cpu=not has_cuda,
            gradient_checkpointing=False,
            seed=0,
        )
        trainer = SFTTrainer(
            model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
        )
        if has_cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        trainer.train()
        if has_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    logged = [h for h in trainer.state.log_history if "num_tokens" in h and "loss" in h]
    tokens = float(logged[-1]["num_tokens"])
    return {"packing": packing, "seconds": round(seconds, 2), "tokens": int(tokens), "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="HF causal-LM dir (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_dir = args.model
    if model_dir is None:
        from generator.teachers.models import EMBEDDED_TEACHER, resolve_model

        model_dir = str(resolve_model(f"embedded:{EMBEDDED_TEACHER}").path)
    rows = synthetic_rows(args.rows, args.seed)
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    print(f"model {model_dir} ({args.dtype}) on {device}; {args.rows} rows, {args.steps} steps of batch {args.batch}")
    results = []
    for packing in (False, True):
        result = run(model_dir, rows, packing, args)
        results.append(result)
        name = "packed (bfd, padding-free)" if packing else "padded (baseline)"
        print(
            f"{name:28s} {result['tokens']:8d} real tokens in {result['seconds']:7.2f} s"
            f" = {result['tokens_per_s']:9.1f} tokens/s"
        )
    ratio = results[1]["tokens_per_s"] / results[0]["tokens_per_s"]
    print(json.dumps({"padded": results[0], "packed": results[1]}, default=str))
    print(f"ratio: {ratio:.2f}  (packed / padded real tokens per second)")


if __name__ == "__main__":
    main()
