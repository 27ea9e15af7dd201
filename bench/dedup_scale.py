"""MinHash-LSH and semantic dedup at 10K / 100K / 1M rows: time, peak RSS, growth factor.

Rows stream from bench/corpus.py (`iter_corpus`, ~10% injected near-duplicates) through a
filter chain in blocks (`FilterChain.screen_iter`), so the pipeline itself holds one block; what
grows with N is the filter's memory of kept rows. Every (method, size) runs in its own child
process so its peak RSS (ru_maxrss) is its own.

* minhash:  filters.minhash.MinHashDedup at its defaults (word unigrams, Jaccard 0.8, 128 perms).
  Baseline in the same run: datasketch used the way its docs recommend for speed and memory
  (`--baseline tuned`: MinHash.generator with shared permutations and a CRC32 hashfunc,
  LeanMinHash storage, MinHashLSH with the same bands and compressed band keys; see
  `datasketch_child`), candidates verified with LeanMinHash.jaccard: the same decision rule.
  `--baseline per-row` is the former, flattering baseline (a new SHA1 MinHash() per row, full
  objects stored). Printed beside ours; `ratio:` is its time / ours at the largest size both ran.
* semantic: filters.semantic.SemanticDedup (cosine 0.9). `--embeddings model` embeds with the
  offline all-MiniLM-L6-v2 (~150-250 rows/s on 2 CPU cores: 1M rows is hours of encoder time);
  `--embeddings hashed` swaps in a deterministic feature-hashing stand-in so that the index and
  search part can be measured at 1M rows. Every line says which one ran.

Growth factor: time(N) / time(previous N) divided by the size ratio (1.0 = linear), same for RSS.

    python bench/dedup_scale.py [--methods minhash semantic] [--sizes 10000 100000 1000000]
        [--semantic-sizes 10000 100000] [--embeddings model|hashed] [--index exact|hnsw] [--no-baseline]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BLOCK = 4096


def hashed_embeddings(texts: list[str], dim: int = 384) -> np.ndarray:
    """Stand-in encoder: signed feature hashing of word unigrams and bigrams, unit length."""
    rows: list[int] = []
    hashes: list[int] = []
    for i, text in enumerate(texts):
        words = re.findall(r"\w+", text.casefold())
        grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        hashes.extend(zlib.crc32(g.encode()) for g in grams)
        rows.extend([i] * len(grams))
    h = np.asarray(hashes, dtype=np.int64)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    np.add.at(out, (np.asarray(rows, dtype=np.int64), h % dim), np.where((h >> 16) & 1, 1.0, -1.0))
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def build_filter(method: str, args: argparse.Namespace) -> Any:
    if method == "minhash":
        from filters.minhash import MinHashDedup

        return MinHashDedup()
    from filters.semantic import SemanticDedup

    if args.embeddings == "hashed":

        class HashedSemantic(SemanticDedup):
            def embed(self, records):
                return hashed_embeddings([r.instruction for r in records])

        return HashedSemantic(model="-", index=args.index)
    from generator.teachers.models import embedded_encoder_dir

    return SemanticDedup(model=str(embedded_encoder_dir()), index=args.index, batch_size=128)


def child(method: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    from corpus import iter_corpus

    from filters.chain import FilterChain
    from prompts import Record

    if method.startswith("datasketch"):
        return datasketch_child(n, method.removeprefix("datasketch-"))
    chain = FilterChain("post", [build_filter(method, args)])
    flags: dict[str, bool] = {}
    dups = 0

    def rows() -> Any:
        nonlocal dups
        for i, (text, dup) in enumerate(iter_corpus(n, seed=7)):
            flags[f"r{i}"] = dup
            dups += dup
            yield Record(id=f"r{i}", instruction=text)

    started = time.perf_counter()
    kept = caught = 0
    for record in chain.screen_iter(rows(), block=BLOCK):
        dup = flags.pop(record.id)
        kept += not record.rejected
        caught += dup and record.rejected
    return {"seconds": time.perf_counter() - started, "kept": kept, "caught": caught, "dups": dups}


def datasketch_child(n: int, style: str) -> dict[str, Any]:
    """datasketch doing the same job with the same decision rule: a row is a duplicate when an LSH
    candidate among the kept rows has estimated Jaccard >= threshold.

    `tuned` (default) follows datasketch's docs for speed and memory: signatures of a block come
    from `MinHash.generator` (one initialised MinHash whose permutations every copy shares, then
    `update_batch`), hashed with the same CRC32 Seedforge uses instead of the default SHA1 (the
    docs suggest a faster `hashfunc`); kept signatures are stored as `LeanMinHash` (no
    permutations, no hashfunc); keys are ints; `insert(check_duplication=False)` since keys are
    unique by construction; the LSH compresses its band keys with `hashfunc` (docs: smaller index,
    possibly more false candidates, which verification removes). `insertion_session` is not used:
    it only buffers writes to Redis/Cassandra storage and the dict storage ignores the buffer,
    and here every row must see the rows kept before it.
    `per-row` is the former baseline: a fresh `MinHash()` (SHA1, new permutations) per row and
    full MinHash objects stored."""
    from corpus import iter_corpus
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from filters.minhash import MinHashDedup, shingles

    ours = MinHashDedup()
    params = (ours.bands, ours.rows)
    started = time.perf_counter()
    kept = caught = dups = 0
    if style == "per-row":
        lsh = MinHashLSH(threshold=ours.threshold, num_perm=ours.num_perm, params=params)
        stored: dict[Any, MinHash] = {}
        for i, (text, dup) in enumerate(iter_corpus(n, seed=7)):
            dups += dup
            mh = MinHash(num_perm=ours.num_perm, seed=1)
            mh.update_batch([s.encode() for s in shingles(text, ours.ngram)])
            duplicate = any(stored[key].jaccard(mh) >= ours.threshold for key in lsh.query(mh))
            caught += dup and duplicate
            if not duplicate:
                lsh.insert(f"r{i}", mh)
                stored[f"r{i}"] = mh
                kept += 1
        return {"seconds": time.perf_counter() - started, "kept": kept, "caught": caught, "dups": dups}

    def band_key(band: bytes) -> bytes:
        return zlib.crc32(band).to_bytes(4, "little")

    lsh = MinHashLSH(threshold=ours.threshold, num_perm=ours.num_perm, params=params, hashfunc=band_key)
    lean: dict[int, LeanMinHash] = {}
    rows = iter_corpus(n, seed=7)
    index = 0
    while block := list(itertools.islice(rows, BLOCK)):
        sets = [[s.encode() for s in shingles(text, ours.ngram)] for text, _ in block]
        signatures = MinHash.generator(sets, num_perm=ours.num_perm, seed=1, hashfunc=zlib.crc32)
        for (_, dup), mh in zip(block, signatures, strict=True):
            dups += dup
            duplicate = any(lean[key].jaccard(mh) >= ours.threshold for key in lsh.query(mh))
            caught += dup and duplicate
            if not duplicate:
                frozen = LeanMinHash(mh)
                lsh.insert(index, frozen, check_duplication=False)
                lean[index] = frozen
                kept += 1
            index += 1
    return {"seconds": time.perf_counter() - started, "kept": kept, "caught": caught, "dups": dups}


def spawn(method: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", method, str(n), "--embeddings", args.embeddings, "--index", args.index]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{method} at {n} rows failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(label: str, sizes: list[int], results: dict[int, dict[str, Any]]) -> None:
    previous = None
    for n in sizes:
        r = results[n]
        growth = ""
        if previous is not None:
            scale = n / previous
            growth = (
                f"  growth: time x{r['seconds'] / results[previous]['seconds']:.1f} "
                f"({r['seconds'] / results[previous]['seconds'] / scale:.2f} of linear), "
                f"rss x{r['rss_mb'] / results[previous]['rss_mb']:.2f}"
            )
        print(
            f"{label:<34} N={n:>8}  {r['seconds']:8.1f} s  {n / r['seconds']:9.0f} rows/s  peak RSS "
            f"{r['rss_mb']:7.0f} MB  kept {r['kept']:>8}  injected dups caught {r['caught'] / max(r['dups'], 1):.3f}"
            f"{growth}",
            flush=True,
        )
        previous = n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="+", default=["minhash", "semantic"], choices=["minhash", "semantic"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--semantic-sizes", type=int, nargs="+", default=None, help="default: --sizes")
    parser.add_argument("--embeddings", choices=["model", "hashed"], default="model")
    parser.add_argument("--index", choices=["exact", "hnsw"], default="exact")
    parser.add_argument("--no-baseline", action="store_true", help="skip the datasketch baseline")
    parser.add_argument(
        "--baseline",
        choices=["tuned", "per-row"],
        default="tuned",
        help="datasketch as its docs recommend (tuned) or the former per-row MinHash() baseline",
    )
    parser.add_argument("--baseline-sizes", type=int, nargs="+", default=None, help="default: --sizes")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        method, n = args.child[0], int(args.child[1])
        result = child(method, n, args)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    ratio = None
    for method in args.methods:
        sizes = sorted(args.semantic_sizes or args.sizes) if method == "semantic" else sorted(args.sizes)
        label = "minhash (seedforge)"
        if method == "semantic":
            label = f"semantic ({args.embeddings} embeddings, {args.index})"
        results = {n: spawn(method, n, args) for n in sizes}
        report(label, sizes, results)
        if method == "minhash" and not args.no_baseline:
            base_sizes = sorted(args.baseline_sizes or sizes)
            baseline = {n: spawn(f"datasketch-{args.baseline}", n, args) for n in base_sizes}
            report(f"minhash (datasketch {args.baseline})", base_sizes, baseline)
            top = max(n for n in base_sizes if n in results)
            ratio = baseline[top]["seconds"] / results[top]["seconds"]
            print(
                f"datasketch / seedforge at N={top}: time x{ratio:.1f}, "
                f"peak RSS x{baseline[top]['rss_mb'] / results[top]['rss_mb']:.2f}"
            )
    if ratio is not None:
        print(f"ratio: {ratio:.1f}")


if __name__ == "__main__":
    main()
