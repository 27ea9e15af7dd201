"""How much of the engine's own throughput a whole run gets: a 300-row instruct run and a 300-row
labeled run on the embedded engine, each against raw vLLM on the same kind of prompts (sampled
from the requests that run sent, with their seeds and parameters), in the same process on the
same engine, with the run's in-flight count as the engine's batch limit.

A run's figure is its teacher completion tokens over the wall time of the whole run after engine
start (generation, filters, publishing: everything the user waits for). The engine is started
before the first run, so no run pays for it. The raw figure is the best of `--raw-batches`
batches of in-flight size, one batch of max(512, 2 x in_flight) requests (one `enqueue`: vLLM
runs up to its max_num_seqs, 256, at once) and a raw stream that keeps in_flight requests in the
engine until as many are answered, each a sample of everything the run asked the engine in its
proportions (all chat for an instruct run; for a labeled run mostly scoring reads, one prompt
and no completion token each), queued with vLLM's own `enqueue_chat`/`enqueue` from an empty
prefix cache. The run's mean requests in flight is printed too. The last line is `ratio: X`,
the lower of the two run/raw ratios (target >= 0.8). Printed for comparison, not used: a raw
chat batch on the cache the run left (it re-reads the run's own prompts), and for a labeled run
raw chat alone (reads left out) and the work share (the same work timed in separate batches of
chat and of reads).

    flock /tmp/seedforge-heavy.lock python bench/pipeline_efficiency.py [--rows 300]
        [--only instruct|labeled] [--in-flight N] [--no-prefix-caching] [--eager] [--raw-batches 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cache_counters(teacher: Any) -> tuple[float, float]:
    """Prompt tokens looked up in and found in the prefix cache so far (vLLM's own counters)."""
    totals = {"vllm:prefix_cache_queries": 0.0, "vllm:prefix_cache_hits": 0.0}
    for metric in teacher.llm.get_metrics():
        if metric.name in totals:
            totals[metric.name] += float(getattr(metric, "value", 0.0))
    return totals["vllm:prefix_cache_queries"], totals["vllm:prefix_cache_hits"]


def hit_rate(before: tuple[float, float], after: tuple[float, float]) -> float:
    queries = after[0] - before[0]
    return (after[1] - before[1]) / queries if queries else 0.0


def raw_reads(teacher: Any, jobs: list[Any], size: int) -> float:
    """Seconds per scoring read of `llm.generate` on one batch of `size` of the run's reads."""
    reads = [item for job in jobs for item in zip(*job.engine_inputs(), strict=True)]
    batch = random.Random(0).sample(reads, min(size, len(reads)))
    teacher.llm.reset_prefix_cache()
    started = time.perf_counter()
    teacher.llm.generate([prompt for prompt, _ in batch], [params for _, params in batch], use_tqdm=False)
    return (time.perf_counter() - started) / len(batch)


def raw_mix(
    teacher: Any, sent: list[Any], jobs: list[Any], size: int, seed: int = 0, cold: bool = True
) -> dict[str, float]:
    """tokens/s of one raw batch of `size` of everything a run asked the engine: its chat requests
    and its scoring reads in the run's proportion, queued together with vLLM's own `enqueue_chat`
    and `enqueue` and run to completion, from an empty prefix cache. Reads yield no completion
    token, so only the chat requests' tokens count, as in the run's own figure. Not `cold`: on the
    cache the run left, which holds the run's own prompts word for word (no new batch could)."""
    from generator.teachers.vllm_session import external_id

    reads = [item for job in jobs for item in zip(*job.engine_inputs(), strict=True)]
    rng = random.Random(seed)
    chats = rng.sample(sent, min(len(sent), max(1, round(size * len(sent) / (len(sent) + len(reads))))))
    batch = rng.sample(reads, min(len(reads), size - len(chats)))
    if cold:
        teacher.llm.reset_prefix_cache()
    counters = cache_counters(teacher)
    started = time.perf_counter()
    ids = teacher.llm.enqueue_chat(
        [list(r.messages) for r in chats], sampling_params=[teacher.sampling_params(r) for r in chats], use_tqdm=False
    )
    if batch:
        teacher.llm.enqueue([prompt for prompt, _ in batch], [params for _, params in batch], use_tqdm=False)
    outputs = teacher.llm.wait_for_completion(use_tqdm=False)
    elapsed = time.perf_counter() - started
    chat_ids = {external_id(i) for i in ids}
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs if external_id(o.request_id) in chat_ids)
    hits = hit_rate(counters, cache_counters(teacher))
    return {"tps": tokens / elapsed, "tokens": tokens, "chats": len(chats), "reads": len(batch), "hits": hits}


def raw_stream(
    teacher: Any, sent: list[Any], jobs: list[Any], size: int, in_flight: int, seed: int
) -> dict[str, float]:
    """tokens/s of a raw client that keeps `in_flight` requests in the engine until `size` of the
    run's requests (chat and scoring, in the run's proportion, shuffled) are answered: vLLM's own
    `enqueue_chat`/`enqueue` and engine steps (the session), a new request the moment one ends, no
    screening, no dependencies, from an empty prefix cache."""
    rng = random.Random(seed)
    requests = [*sent, *(job.request for job in jobs)]
    batch = rng.sample(requests, min(size, len(requests)))
    teacher.llm.reset_prefix_cache()
    session = teacher.open_session()
    started = time.perf_counter()
    session.submit(list(enumerate(batch[:in_flight])))
    sent_so_far, live, tokens = min(in_flight, len(batch)), min(in_flight, len(batch)), 0
    while live:
        done = session.wait()
        live -= len(done)
        tokens += sum(c.completion_tokens for _, c in done)
        more = list(enumerate(batch))[sent_so_far : sent_so_far + len(done)]
        sent_so_far += len(more)
        live += len(more)
        if more:
            session.submit(more)
    elapsed = time.perf_counter() - started
    session.close()
    return {"tps": tokens / elapsed, "tokens": tokens, "requests": len(batch)}


def measure(name: str, teacher: Any, run: Any, in_flight: int, raw_batches: int = 3) -> float:
    import generator.teachers.vllm_session as session_module

    sent: list[Any] = []
    params = teacher.sampling_params
    teacher.sampling_params = lambda r: (sent.append(r), params(r))[1]  # records every chat request
    jobs: list[Any] = []
    score_job = session_module.ScoreJob

    class RecordedJob(score_job):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            jobs.append(self)

    session_module.ScoreJob = RecordedJob  # records every scoring request (likelihood, label scores)
    import generator.flow as flow_module
    from pipeline.labeled import QuotaShortfall

    held = [0.0, 0.0]  # request-seconds in flight, seconds waited: over every flow of the run
    close = flow_module.Flow.close

    def closing(flow: Any) -> None:
        held[0] += flow.held
        held[1] += flow.waited
        flow.held = flow.waited = 0.0
        close(flow)

    flow_module.Flow.close = closing  # type: ignore[method-assign,assignment]
    counters = cache_counters(teacher)
    started = time.perf_counter()
    try:
        summary = run()
    except QuotaShortfall as short:  # published all the same; a short label is not this bench's concern
        summary = short.summary
    wall = time.perf_counter() - started
    flow_module.Flow.close = close  # type: ignore[method-assign]
    run_hits = hit_rate(counters, cache_counters(teacher))
    teacher.sampling_params = params
    session_module.ScoreJob = score_job
    stats = summary.stats["teacher"]
    run_tps = stats["completion_tokens"] / wall
    print(
        f"{name}: {summary.funnel['kept']} rows kept, {stats['calls']} teacher requests, "
        f"{stats['completion_tokens']} completion tokens in {wall:.1f} s = {run_tps:.1f} tokens/s "
        f"(engine busy {stats['teacher_seconds']:.1f} s: {stats['tokens_per_second']} tokens/s)",
        flush=True,
    )
    print(f"{name}: requests by stage {json.dumps({k: v['requests'] for k, v in stats['stages'].items()})}")
    print(f"{name}: wall seconds {json.dumps(summary.stats.get('wall_seconds', {}))}", flush=True)
    print(f"{name}: prefix-cache hit rate over the run {run_hits:.1%} of prompt tokens", flush=True)
    if held[1]:
        print(f"{name}: the run held {held[0] / held[1]:.1f} requests in flight on average (in_flight {in_flight})")
    warm = raw_mix(teacher, sent, [], in_flight, 0, cold=False)
    print(
        f"{name}: raw chat on {warm['chats']:.0f} of its requests, cache as the run left it (not the baseline): "
        f"{warm['tokens']} tokens, {warm['tps']:.1f} tokens/s, prefix-cache hits {warm['hits']:.1%}"
    )
    # The baseline is raw vLLM on the same kind of prompts: everything the run asked the engine, in
    # its proportions (all chat for an instruct run; mostly scoring reads for a labeled one), each
    # batch from an empty prefix cache, as a new batch of prompts would start (shared few-shot
    # prefixes still hit within it). One batch at the in-flight count (the measure) ends
    # decoding its longest requests alone, so it is taken `raw_batches` times; a large batch and a
    # raw stream keep the engine full as a run would: the best of them all is the baseline.
    raw: list[float] = []
    big = max(512, 2 * in_flight)
    for seed, size in [*((seed, in_flight) for seed in range(raw_batches)), (raw_batches, big)]:
        m = raw_mix(teacher, sent, jobs, size, seed)
        raw.append(m["tps"])
        print(
            f"{name}: raw batch of {m['chats']:.0f} chat requests and {m['reads']:.0f} scoring reads of the run "
            f"(sample {seed}, cache emptied first): {m['tokens']:.0f} tokens, {m['tps']:.1f} tokens/s, "
            f"prefix-cache hits {m['hits']:.1%}",
            flush=True,
        )
    m = raw_stream(teacher, sent, jobs, big, in_flight, raw_batches + 1)
    raw.append(m["tps"])
    print(
        f"{name}: raw stream of {m['requests']:.0f} of the run's requests, {in_flight} in flight throughout "
        f"(cache emptied first): {m['tokens']:.0f} tokens, {m['tps']:.1f} tokens/s",
        flush=True,
    )
    ratio = run_tps / max(raw)
    print(f"{name}: raw best of {len(raw)}: {max(raw):.1f} tokens/s; run / raw = {ratio:.3f}", flush=True)
    if jobs:
        # For comparison: against chat alone, scoring reads only cost (no completion token), and
        # the same work from separate batches of chat and of reads (no shared steps).
        chat = [raw_mix(teacher, sent, [], in_flight, seed)["tps"] for seed in range(raw_batches)]
        print(
            f"{name}: raw llm.chat alone, best of {len(chat)} batches of {in_flight}: {max(chat):.1f} tokens/s; "
            f"run / raw chat = {run_tps / max(chat):.3f} (not the baseline: reads left out)"
        )
        per_read = raw_reads(teacher, jobs, in_flight)
        reads = sum(len(job.prompts) for job in jobs)
        busy = stats["completion_tokens"] / max(chat) + reads * per_read
        print(
            f"{name}: {reads} scoring reads, raw llm.generate {per_read * 1000:.1f} ms per read; "
            f"a raw engine would need {busy:.0f} s of the run's {wall:.0f} s: work share {busy / wall:.3f}",
            flush=True,
        )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--only", choices=["instruct", "labeled"])
    parser.add_argument(
        "--in-flight", type=int, default=None, help="default: the teacher's own (256: vLLM's max_num_seqs)"
    )
    parser.add_argument("--no-prefix-caching", action="store_true")
    parser.add_argument("--eager", action="store_true", help="skip torch.compile (faster start)")
    parser.add_argument("--raw-batches", type=int, default=3, help="raw batches; the best one is the baseline")
    args = parser.parse_args()

    from conf.config import load_config
    from conf.domains import load_domain
    from generator.teachers.vllm import VLLMConfig, VLLMTeacher
    from pipeline.instruct import generate
    from pipeline.labeled import generate_labeled

    config = VLLMConfig(
        enforce_eager=args.eager,
        in_flight=args.in_flight,
        # Stats on: the prefix-cache counters come from vLLM's own metrics.
        engine_args={"enable_prefix_caching": not args.no_prefix_caching, "disable_log_stats": False},
    )
    teacher = VLLMTeacher(config)
    teacher.llm  # noqa: B018 - the engine starts here, outside every measured run
    in_flight = teacher.in_flight
    print(
        f"engine start: {teacher.startup_seconds:.1f} s; in_flight {in_flight}; "
        f"prefix caching {'off' if args.no_prefix_caching else 'on'}",
        flush=True,
    )
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "instruct"):
            run_config = load_config(overrides={"generation": {"num": args.rows}})
            seeds = ROOT / "examples/general/seed_tasks.jsonl"
            ratios.append(
                measure(
                    "instruct",
                    teacher,
                    lambda: generate(run_config, seeds, Path(tmp) / "i", teacher=teacher),
                    in_flight,
                    args.raw_batches,
                )
            )
        if args.only in (None, "labeled"):
            per_label = max(1, args.rows // 6)
            domain = load_domain(ROOT / "bench/domains/topics6", {"targets": {"per_label": per_label}})
            labeled_run = lambda: generate_labeled(domain, Path(tmp) / "l", teacher=teacher)  # noqa: E731
            ratios.append(measure("labeled", teacher, labeled_run, in_flight, args.raw_batches))
    teacher.close()
    print(f"ratio: {min(ratios):.3f}")


if __name__ == "__main__":
    main()
