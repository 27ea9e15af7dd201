"""Ray executor scaling: the same generation job with 1 and with 2 teacher replicas.

A local 2-node Ray cluster (two `ray start` processes on 127.0.0.1, 1 CPU each) is started,
then the job runs twice on fresh run dirs: baseline = 1 replica, candidate = 2 replicas (one per
node, each engine bound to its own core). Engines are started before the clock runs, so rows/s
is generation throughput, not start-up. Prints rows/s and completion tokens/s for each and
`ratio: X` (2 replicas over the 1-replica baseline).

    flock /tmp/seedforge-heavy.lock .venv/bin/python bench/ray_scaling.py             # vLLM CPU engines
    .venv/bin/python bench/ray_scaling.py --teacher scripted --delay 0.05             # executor overhead only

`--teacher scripted` replaces the engine by the deterministic test teacher that sleeps `delay`
seconds per completion: it measures how well the pool keeps replicas busy, not engine speed.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def factory(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    if args.teacher == "scripted":
        from tests.fakes import StreamingScriptedTeacher

        return functools.partial(StreamingScriptedTeacher, delay=args.delay)
    return None  # the configured teacher: the embedded vLLM CPU engine


def run(args: argparse.Namespace, replicas: int, out: Path) -> dict[str, float]:
    from conf.config import load_config
    from generator.teachers.executor import ExecutorConfig
    from generator.teachers.registry import make_teacher
    from pipeline.instruct import generate
    from tests.conftest import GENERAL_SEEDS

    config = load_config(
        overrides={
            "generation": {"num": args.num, "min_prompts_per_round": args.prompts, "prompts_per_round": args.prompts},
            "teacher": {"enforce_eager": True, "max_model_len": 2048},
        }
    )
    executor = ExecutorConfig(kind="ray", replicas=replicas, batch_size=args.batch, start_timeout=600)
    started = time.perf_counter()
    teacher = make_teacher(config.teacher, executor, factory(args))
    startup = time.perf_counter() - started
    try:
        summary = generate(config, GENERAL_SEEDS, out, teacher=teacher, resume=False)
    finally:
        teacher.close()
    seconds = summary.stats["wall_seconds"]["generation"]
    tokens = summary.stats["teacher"]["completion_tokens"]
    return {
        "replicas": replicas,
        "rows": summary.funnel["kept"],
        "requests": summary.stats["teacher"]["calls"],
        "seconds": round(seconds, 2),
        "rows_per_s": round(summary.funnel["kept"] / seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "startup_s": round(startup, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", choices=["vllm", "scripted"], default="vllm")
    parser.add_argument("--delay", type=float, default=0.05, help="scripted: seconds per completion")
    parser.add_argument("--num", type=int, default=24, help="kept rows per job")
    parser.add_argument("--prompts", type=int, default=16, help="instruction prompts per round")
    parser.add_argument("--batch", type=int, default=64, help="most requests per replica call")
    args = parser.parse_args()

    import ray

    from tests.ray_cluster import local_cluster

    results = []
    with tempfile.TemporaryDirectory() as tmp, local_cluster(Path(tmp), nodes=2, cpus_per_node=1):
        for replicas in (1, 2):
            results.append(run(args, replicas, Path(tmp) / f"run{replicas}"))
            print(json.dumps(results[-1]), flush=True)
        nodes = sum(n["Alive"] for n in ray.nodes())
    base, two = results
    print(f"teacher: {args.teacher}; cluster: {nodes} nodes x 1 CPU; job: {args.num} kept rows")
    print(f"baseline (1 replica): {base['rows_per_s']} rows/s, {base['tokens_per_s']} tokens/s")
    print(f"2 replicas:           {two['rows_per_s']} rows/s, {two['tokens_per_s']} tokens/s")
    print(f"ratio: {two['rows_per_s'] / base['rows_per_s']:.2f}")


if __name__ == "__main__":
    main()
