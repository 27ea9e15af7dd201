"""What vLLM's automatic prefix caching buys Seedforge's shared-prefix requests.

Verification sends many requests that differ only at the end: few-shot label scoring repeats the
task, the label list and the demonstration turns before each text; likelihood reads repeat the
task and the label before each text. One engine with prefix caching on, then one with it off
(same process, same model, eager so both start quickly), each send the same workloads: a warm-up
round, then `--repeats` rounds with fresh texts (a run verifies round after round behind the same
prefix). Figures are the median seconds per round; the last line is `ratio: X`, seconds off /
seconds on for both workloads together (> 1: caching helps).

    flock /tmp/seedforge-heavy.lock python bench/prefix_caching.py [--domain bench/domains/topics6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def workloads(loaded: Any, gateway: Any, round_no: int) -> dict[str, tuple[int, Callable[[], object]]]:
    """Per workload: requests it sends, and a call that sends them through Seedforge's own code."""
    from generator.verify.base import Candidate, VerifyContext
    from generator.verify.blind import label_probs, pick_shots
    from generator.verify.likelihood import LikelihoodVerifier

    task = loaded.domain
    texts = [f"{text} (note {round_no})" for texts in loaded.seeds.values() for text in texts]
    intended = [label for label, texts in loaded.seeds.items() for _ in texts]
    shots = pick_shots(loaded.seeds, task.verification.shots_per_label, task.generation.seed)
    likelihood = LikelihoodVerifier(VerifyContext(gateway, task, loaded.seeds, shots))
    candidates = [Candidate(text, label, str(i)) for i, (text, label) in enumerate(zip(texts, intended, strict=True))]
    key = f"bench/r{round_no}"
    return {
        "few-shot label scores": (
            len(texts),
            lambda: label_probs(gateway, task, texts, key=key, stage="few-shot label scores", shots=shots),
        ),
        "likelihood reads": (len(texts) * len(task.labels), lambda: likelihood.judge(candidates, round_no)),
    }


def measure(loaded: Any, caching: bool, repeats: int) -> dict[str, dict[str, Any]]:
    from generator.gateway import Gateway
    from generator.teachers.vllm import VLLMConfig, VLLMTeacher

    teacher = VLLMTeacher(VLLMConfig(enforce_eager=True, engine_args={"enable_prefix_caching": caching}))
    teacher.llm  # noqa: B018 - start the engine outside the timings
    gateway = Gateway(teacher)
    out: dict[str, dict[str, Any]] = {}
    try:
        for round_no in range(repeats + 1):  # round 0 warms the engine (and, with caching on, the cache)
            for name, (requests, send) in workloads(loaded, gateway, round_no).items():
                started = time.perf_counter()
                send()
                seconds = time.perf_counter() - started
                entry = out.setdefault(name, {"requests": requests, "seconds": []})
                if round_no:
                    entry["seconds"].append(seconds)
        for stage, stats in gateway.stats.items():
            name = "likelihood reads" if stage not in out else stage
            out[name]["prompt_tokens_per_request"] = round(stats.prompt_tokens / max(stats.attempts, 1), 1)
            out[name]["quarantined"] = stats.quarantined
    finally:
        teacher.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", default=str(ROOT / "bench/domains/topics6"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from conf.domains import load_domain

    loaded = load_domain(args.domain)
    results = {caching: measure(loaded, caching, args.repeats) for caching in (True, False)}
    print("| workload | requests per round | prompt tokens per request | caching on, s | caching off, s | off / on |")
    print("|---|---:|---:|---:|---:|---:|")
    total = {True: 0.0, False: 0.0}
    for name, on in results[True].items():
        off = results[False][name]
        med_on, med_off = statistics.median(on["seconds"]), statistics.median(off["seconds"])
        total[True] += med_on
        total[False] += med_off
        print(
            f"| {name} | {on['requests']} | {on['prompt_tokens_per_request']} | {med_on:.2f} | {med_off:.2f} "
            f"| {med_off / med_on:.2f} |"
        )
    print(f"ratio: {total[False] / total[True]:.3f}")


if __name__ == "__main__":
    main()
