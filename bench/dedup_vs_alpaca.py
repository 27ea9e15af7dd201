"""Seedforge's ROUGE-L near-duplicate filter vs Alpaca's procedure, same rows, one run.

Rows: bench/corpus.py's generated instructions (seeded; ~10% injected near-duplicates), after
the 20 seed tasks of examples/general as the initial pool. Both sides reject a row when its
maximum ROUGE-L F1 against the pool (seeds + every earlier kept row) exceeds 0.7, and keep it
in the pool otherwise.

* Alpaca (generate_instruction.py, re-implemented): rouge_score's RougeScorer tokenizer,
  `rouge_scorer._score_lcs` against every pool row through a multiprocessing Pool created
  for each instruction (`--procs`, default: all cores), max F1 > 0.7 rejects.
* Seedforge: filters.rouge.RougeNearDup (check, then accept when kept), Record objects included.

Pure-Python ROUGE over 20K rows takes hours, so by default Alpaca's time for N rows is
EXTRAPOLATED, and every such line says so: Alpaca runs for real, sequentially, on the first
`--alpaca-rows` rows; for the remaining rows, `--samples` rows drawn uniformly are each run
through Alpaca's step against the pool Alpaca would have at that row (seeds + every earlier kept
row — the same rows on both sides, as the decisions are checked equal) and timed; the rest is
estimated as (remaining rows) x (mean sampled time), an unbiased estimate of the sum. The cost
model a + b·pool_size fitted on the prefix is printed beside it as a cross-check.
`--alpaca-rows 0` runs Alpaca on all N rows (hours at 20K).

Decisions: Alpaca's keep/drop must equal Seedforge's on every row Alpaca ran (prefix and samples), and
Seedforge's must equal a brute-force exact scan (rapidfuzz LCS over the whole pool with
rouge_score's arithmetic, no pruning) on all N rows. Any difference fails the script.

    python bench/dedup_vs_alpaca.py [--sizes 5000 10000 20000] [--alpaca-rows 1500] [--procs 2]

The last line is `ratio: X` = Alpaca time / Seedforge time at the largest size (goal ≥ 1000).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import corpus  # noqa: E402
from rapidfuzz import process  # noqa: E402
from rapidfuzz.distance import Indel  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from filters.rouge import RougeNearDup  # noqa: E402
from prompts import Record  # noqa: E402
from textmetrics import f1_from_lcs, rouge_tokens  # noqa: E402

THRESHOLD = 0.7


def seed_instructions() -> list[str]:
    path = ROOT / "examples" / "general" / "seed_tasks.jsonl"
    return [json.loads(line)["instruction"] for line in path.read_text().splitlines() if line.strip()]


SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def alpaca_step(pool_tokens: list[list[str]], row: str, procs: int) -> tuple[bool, list[str]]:
    """One instruction of Alpaca's loop: tokenize, a fresh Pool, _score_lcs vs all, max > 0.7?"""
    tokens = SCORER._tokenizer.tokenize(row)
    with Pool(procs) as workers:
        scores = workers.map(partial(rouge_scorer._score_lcs, tokens), pool_tokens)
    return max(score.fmeasure for score in scores) <= THRESHOLD, tokens


def alpaca(seeds: list[str], rows: list[str], procs: int) -> tuple[list[bool], list[float], list[int]]:
    pool_tokens = [SCORER._tokenizer.tokenize(s) for s in seeds]
    keep, seconds, sizes = [], [], []
    for row in rows:
        started = time.perf_counter()
        sizes.append(len(pool_tokens))
        kept, tokens = alpaca_step(pool_tokens, row, procs)
        keep.append(kept)
        if kept:
            pool_tokens.append(tokens)
        seconds.append(time.perf_counter() - started)
    return keep, seconds, sizes


def alpaca_sampled(
    seeds: list[str], rows: list[str], keep: list[bool], sample: list[int], procs: int
) -> tuple[dict[int, bool], list[float]]:
    """Alpaca's step on sampled rows, each against the pool it would really have at that row
    (seeds + every earlier kept row; the kept rows are the same on both sides, checked)."""
    pool_tokens = [SCORER._tokenizer.tokenize(s) for s in seeds]
    decisions, seconds = {}, []
    wanted = set(sample)
    for i, row in enumerate(rows):
        if i in wanted:
            started = time.perf_counter()
            decisions[i], _ = alpaca_step(pool_tokens, row, procs)
            seconds.append(time.perf_counter() - started)
        if keep[i]:
            pool_tokens.append(SCORER._tokenizer.tokenize(row))
    return decisions, seconds


def seedforge(seeds: list[str], rows: list[str]) -> tuple[list[bool], float, list[int]]:
    flt = RougeNearDup(threshold=THRESHOLD)
    started = time.perf_counter()
    flt.prime(Record(id=f"seed-{i}", instruction=s) for i, s in enumerate(seeds))
    keep, sizes = [], []
    for i, row in enumerate(rows):
        sizes.append(len(flt._pool))
        record = Record(id=f"row-{i}", instruction=row)
        verdict = flt.check(record)
        keep.append(verdict.keep)
        if verdict.keep:
            flt.accept(record)
    return keep, time.perf_counter() - started, sizes


def brute_force(seeds: list[str], rows: list[str]) -> list[bool]:
    """Exact reference without pruning: every pool row's LCS, rouge_score's float arithmetic."""
    vocab: dict[str, str] = {}

    def encode(text: str) -> str:
        return "".join(vocab.setdefault(t, chr(0x100 + len(vocab))) for t in rouge_tokens(text))

    pool = [encode(s) for s in seeds]
    keep = []
    for row in rows:
        tokens = encode(row)
        best = 0.0
        if tokens:
            dist = process.cdist([tokens], pool, scorer=Indel.distance, workers=-1)[0]
            lengths = np.fromiter((len(p) for p in pool), dtype=np.int64, count=len(pool))
            lcs = (len(tokens) + lengths - dist) // 2
            for j in np.flatnonzero(2 * lcs >= (len(tokens) + lengths) * (THRESHOLD - 1e-9)):
                best = max(best, f1_from_lcs(int(lcs[j]), len(tokens), int(lengths[j])))
        keep.append(best <= THRESHOLD)
        if best <= THRESHOLD:
            pool.append(tokens)
    return keep


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument("--alpaca-rows", type=int, default=1500, help="rows Alpaca really runs (0: all)")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="Alpaca's Pool size")
    parser.add_argument("--samples", type=int, default=30, help="rows per size timed at their true pool size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    seeds = seed_instructions()
    largest = max(args.sizes)
    rows, dups = corpus(largest, dup_rate=0.1, seed=args.seed)  # smaller sizes are prefixes
    k = largest if args.alpaca_rows <= 0 else min(args.alpaca_rows, largest)
    print(f"corpus: {largest} rows ({len(dups)} injected near-duplicates), {len(seeds)} seed rows in the pool")
    print(f"alpaca: Pool({args.procs}) per instruction, measuring the first {k} rows ...", flush=True)
    a_keep, a_seconds, a_sizes = alpaca(seeds, rows[:k], args.procs)
    x = np.asarray(a_sizes, dtype=float)
    a, b = np.linalg.lstsq(np.stack([np.ones_like(x), x], axis=1), np.asarray(a_seconds), rcond=None)[0]
    print(f"alpaca: {sum(a_seconds):.1f} s for {k} rows; fit per row = {a * 1e3:.2f} ms + {b * 1e6:.2f} us x pool")

    ratio = 0.0
    for n in sorted(args.sizes):
        ours_keep, ours_seconds, sizes = seedforge(seeds, rows[:n])
        reference = brute_force(seeds, rows[:n])
        m = min(n, k)
        if ours_keep[:m] != a_keep[:m]:
            bad = next(i for i in range(m) if ours_keep[i] != a_keep[i])
            sys.exit(f"DECISIONS DIFFER from Alpaca at row {bad}: {rows[bad]!r}")
        if ours_keep != reference:
            bad = next(i for i in range(n) if ours_keep[i] != reference[i])
            sys.exit(f"DECISIONS DIFFER from the exact brute force at row {bad}: {rows[bad]!r}")
        if n <= k:
            alpaca_seconds, how = sum(a_seconds[:n]), "measured"
        else:
            # Estimate 1: a uniform sample of rows, each timed against its true pool (unbiased
            # for the sum). Estimate 2: the cost model fitted on the measured prefix.
            rng = np.random.default_rng(n)
            sample = sorted(rng.choice(np.arange(k, n), size=min(args.samples, n - k), replace=False).tolist())
            sampled, sample_seconds = alpaca_sampled(seeds, rows[:n], ours_keep, sample, args.procs)
            wrong = [i for i, kept in sampled.items() if kept != ours_keep[i]]
            if wrong:
                sys.exit(f"DECISIONS DIFFER from Alpaca at sampled row {wrong[0]}: {rows[wrong[0]]!r}")
            model = float(sum(a + b * s for s in sizes))
            alpaca_seconds = sum(a_seconds) + (n - k) * float(np.mean(sample_seconds))
            how = (
                f"EXTRAPOLATED: {k} rows measured + {n - k} x mean of {len(sample)} sampled rows timed at their "
                f"true pool size; the prefix cost model gives {model:.0f} s"
            )
            m = f"{m} + {len(sample)} sampled"
        ratio = alpaca_seconds / ours_seconds
        kept = sum(ours_keep)
        caught = sum(1 for i in dups if i < n and not ours_keep[i]) / max(1, sum(1 for i in dups if i < n))
        print(
            f"N={n}: kept {kept}, dropped {n - kept} (injected near-dups caught {caught:.3f}); decisions identical "
            f"(Alpaca on {m} rows, exact brute force on {n}); alpaca {alpaca_seconds:.1f} s ({how}); "
            f"seedforge {ours_seconds:.3f} s; ratio {ratio:.0f}x",
            flush=True,
        )
    print(f"ratio: {ratio:.1f}")


if __name__ == "__main__":
    main()
