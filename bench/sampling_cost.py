"""What top_p / top_k / min_p cost in engine throughput, against what they buy in diversity.

One engine (the embedded teacher unless --model), one batch of Self-Instruct instruction prompts
(the pipeline's own template, guided JSON, temperature 0.9 as `instruction_sampling`), the same
per-request seeds for every setting. Settings alternate after a warm-up, `--repeats` times each:

- top_p=0.95 (Seedforge's default so far), top_p=1.0 (no truncation), min_p=0.05, top_k=50.

Cost: completion tokens/s of the batch (median over repeats). vLLM's CPU sampler sorts the whole
vocabulary at every step when top_p < 1 (and for top_k); min_p only needs the max probability.
Diversity, over all instructions the batch produced (first repeat): distinct-1/-2 (unique /
total word n-grams), the mean pairwise ROUGE-L (lower: more varied), and the share a
Self-Instruct ROUGE-L < 0.7 filter keeps (greedy, in order) — the rows a run would keep.

    python bench/sampling_cost.py [--prompts 48] [--repeats 2] [--max-tokens 384] [--eager]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS: dict[str, dict[str, Any]] = {
    "top_p=0.95": {"top_p": 0.95},
    "top_p=1.0": {"top_p": 1.0},
    "min_p=0.05": {"top_p": 1.0, "min_p": 0.05},
    "top_k=50": {"top_p": 1.0, "top_k": 50},
}


def instructions(texts: list[str]) -> list[str]:
    out = []
    for text in texts:
        try:
            items = json.loads(text).get("instructions", [])
        except (ValueError, AttributeError):
            continue
        out += [str(i.get("instruction", i) if isinstance(i, dict) else i).strip() for i in items]
    return [i for i in out if i]


def diversity(rows: list[str], sample: int = 300) -> dict[str, float]:
    from textmetrics.rouge import rouge_l

    words = [r.casefold().split() for r in rows]
    unigrams = [w for ws in words for w in ws]
    bigrams = [pair for ws in words for pair in itertools.pairwise(ws)]
    picked = random.Random(0).sample(rows, min(sample, len(rows)))
    pairs = [rouge_l(a, b) for a, b in itertools.combinations(picked[:80], 2)]
    kept: list[str] = []
    for row in picked:
        if all(rouge_l(k, row) < 0.7 for k in kept):
            kept.append(row)
    return {
        "rows": len(rows),
        "distinct1": len(set(unigrams)) / max(len(unigrams), 1),
        "distinct2": len(set(bigrams)) / max(len(bigrams), 1),
        "rougeL_mean": statistics.fmean(pairs) if pairs else 0.0,
        "kept_share": len(kept) / max(len(picked), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--model", default=None, help="teacher model (default: the embedded one)")
    parser.add_argument("--eager", action="store_true", help="skip torch.compile (faster start)")
    parser.add_argument("--seeds", default=str(ROOT / "examples/general/seed_tasks.jsonl"))
    args = parser.parse_args()

    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from generator.seeds import read_seeds
    from generator.teachers.vllm import VLLMConfig, VLLMTeacher
    from prompts import get_spec

    config = VLLMConfig(enforce_eager=args.eager, **({"model": args.model} if args.model else {}))
    teacher = VLLMTeacher(config)
    spec = get_spec("new_instructions")
    seeds = read_seeds(args.seeds).tasks
    rng = random.Random(0)
    schema = spec.json_schema_with({"instructions": 5})
    chats = []
    for _ in range(args.prompts):
        demos = [{"instruction": s.instruction, "input": s.first_input} for s in rng.sample(seeds, 6)]
        chats.append(spec.render(demos=demos, num=5))
    llm = teacher.llm
    print(f"engine start: {teacher.startup_seconds:.1f} s ({'eager' if args.eager else 'compiled'})", flush=True)

    def batch(setting: dict[str, Any]) -> tuple[float, int, list[str]]:
        params = [
            SamplingParams(
                temperature=0.9,
                max_tokens=args.max_tokens,
                seed=1000 + i,
                structured_outputs=StructuredOutputsParams(json=schema),
                **setting,
            )
            for i in range(len(chats))
        ]
        started = time.perf_counter()
        outputs = llm.chat([list(c) for c in chats], sampling_params=params, use_tqdm=False)
        elapsed = time.perf_counter() - started
        return elapsed, sum(len(o.outputs[0].token_ids) for o in outputs), [o.outputs[0].text for o in outputs]

    batch(SETTINGS["top_p=1.0"])  # warm-up: grammar compilation, allocator growth
    speed: dict[str, list[float]] = {name: [] for name in SETTINGS}
    texts: dict[str, list[str]] = {}
    for repeat in range(args.repeats):
        for name, setting in SETTINGS.items():
            elapsed, tokens, outs = batch(setting)
            speed[name].append(tokens / elapsed)
            texts.setdefault(name, outs)
            print(f"repeat {repeat} {name:<11} {tokens} tokens in {elapsed:.1f} s = {tokens / elapsed:.1f} tokens/s")
    teacher.close()
    print(f"{'setting':<11} {'tokens/s':>9} {'rows':>5} {'distinct1':>9} {'distinct2':>9} {'rougeL':>7} {'kept':>6}")
    base = statistics.median(speed["top_p=0.95"])
    for name in SETTINGS:
        d = diversity(instructions(texts[name]))
        print(
            f"{name:<11} {statistics.median(speed[name]):9.1f} {d['rows']:5.0f} {d['distinct1']:9.3f} "
            f"{d['distinct2']:9.3f} {d['rougeL_mean']:7.3f} {d['kept_share']:6.3f}"
        )
    fastest = max(SETTINGS, key=lambda n: statistics.median(speed[n]))
    print(f"ratio: {statistics.median(speed[fastest]) / base:.3f} ({fastest} vs top_p=0.95 tokens/s)")


if __name__ == "__main__":
    main()
