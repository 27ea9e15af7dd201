"""Seedforge's generation path vs raw `vllm.LLM.chat` on the same prompts, in one process.

Both sides send the same rendered Self-Instruct prompts with identical SamplingParams (same
per-request seeds, same guided-JSON schema) to the same engine; ours adds request ids, schema
validation and bookkeeping. Runs alternate (raw, ours, raw, ours...) after a warm-up so neither
side profits from caches. The last line is `ratio: X` = ours / raw tokens per second (goal ≥ 0.95).

    python bench/generation_overhead.py [--prompts 64] [--repeats 3] [--eager]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--eager", action="store_true", help="skip torch.compile (faster start)")
    parser.add_argument(
        "--seeds", default=str(Path(__file__).resolve().parents[1] / "examples/general/seed_tasks.jsonl")
    )
    args = parser.parse_args()

    from generator.gateway import Call, Gateway
    from generator.seeds import read_seeds
    from generator.teachers.base import SamplingConfig
    from generator.teachers.vllm import VLLMConfig, VLLMTeacher
    from prompts import get_spec

    teacher = VLLMTeacher(VLLMConfig(enforce_eager=args.eager))
    spec = get_spec("new_instructions")
    seeds = read_seeds(args.seeds).tasks
    rng = random.Random(0)
    sampling = SamplingConfig(temperature=0.9, top_p=0.95, max_tokens=args.max_tokens)
    schema = spec.json_schema_with({"instructions": 5})
    calls = []
    for i in range(args.prompts):
        demos = [{"instruction": s.instruction, "input": s.first_input} for s in rng.sample(seeds, 6)]
        calls.append(Call(spec, spec.render(demos=demos, num=5), sampling, key=f"bench/{i}", json_schema=schema))
    gateway = Gateway(teacher, max_attempts=1)  # no retries: both sides do exactly the same work
    requests = [gateway.request_for(c, 0) for c in calls]
    llm = teacher.llm
    print(f"engine start: {teacher.startup_seconds:.1f} s", flush=True)

    def raw() -> tuple[float, int]:
        started = time.perf_counter()
        outputs = llm.chat(
            [list(r.messages) for r in requests],
            sampling_params=[teacher.sampling_params(r) for r in requests],
            use_tqdm=False,
        )
        elapsed = time.perf_counter() - started
        return elapsed, sum(len(o.outputs[0].token_ids) for o in outputs)

    def ours() -> tuple[float, int]:
        before = sum(s.completion_tokens for s in gateway.stats.values())
        started = time.perf_counter()
        gateway.run(calls, "bench")
        elapsed = time.perf_counter() - started
        return elapsed, sum(s.completion_tokens for s in gateway.stats.values()) - before

    raw()  # warm-up: first batch pays for grammar compilation and allocator growth
    raw_tps, our_tps = [], []
    for i in range(args.repeats):
        for name, fn, sink in (("raw", raw, raw_tps), ("seedforge", ours, our_tps)):
            elapsed, tokens = fn()
            sink.append(tokens / elapsed)
            print(
                f"run {i} {name:>9}: {tokens} tokens in {elapsed:.2f} s = {tokens / elapsed:.1f} tokens/s", flush=True
            )
    raw_median, our_median = statistics.median(raw_tps), statistics.median(our_tps)
    print(f"raw vllm.LLM.chat: {raw_median:.1f} tokens/s (median of {args.repeats})")
    print(f"seedforge gateway: {our_median:.1f} tokens/s (median of {args.repeats})")
    teacher.close()
    print(f"ratio: {our_median / raw_median:.3f}")


if __name__ == "__main__":
    main()
