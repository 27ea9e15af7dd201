"""Exact and MinHash-LSH dedup as Ray Data stages, for pools too large for one machine's memory.

MinHash: signatures and band keys are computed where the rows are (map_batches, with the very
`MinHashDedup` code the local filter runs, so hashes, bands and the 16-bit signature slice are
identical); rows are exploded to one entry per band and shuffled by band; within a band, rows
sorted by key form the buckets, and each bucket emits its candidate pairs verified at the
threshold. A band's task holds n·(2·num_perm + 16) bytes: ~2.7 GB for 10M rows at 128 perms.
Only verified pairs reach the driver. There a
union-find joins them into components, and each component is resolved in row order with the
local filter's rule — a row is dropped when a *kept* earlier row is a verified candidate, and it
names the most similar one (earliest on ties) — so the kept set equals the local filter's on the
same input, chains of near-duplicates included (A~B, B~C, A≁C keeps A and C, as locally).

Exact: rows are keyed by a hash of their normalized fields (the local `ExactDedup` key) and
shuffled into EXACT_BUCKETS groups by that hash; within a group, every row but the first of its
key is a duplicate of the first.

ROUGE-L stays on the driver (it is exact and order-dependent over all kept rows: no band split).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from filters.base import record_text
from filters.exact import ExactDedup, normalize
from filters.minhash import MinHashDedup
from prompts import Record, Verdict

Drops = dict[int, tuple[int, float]]  # dropped row order -> (kept row order it duplicates, score)


class _Signer:
    """map_batches stage: text -> (band, key, order, 16-bit signature) rows, one per band."""

    def __init__(self, params: dict[str, Any]):
        self.dedup = MinHashDedup(**params)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        sigs = self.dedup._hasher.signatures(texts)
        keys = self.dedup._band_keys(sigs)  # (n, bands)
        short = (sigs >> np.uint32(16)).astype(np.uint16)
        n, bands = keys.shape
        return {
            "band": np.tile(np.arange(bands, dtype=np.int32), n),
            "key": keys.reshape(-1),
            "order": np.repeat(np.asarray(batch["order"], dtype=np.int64), bands),
            "short": np.repeat(short, bands, axis=0),
        }


def _verified_pairs(threshold: float) -> Any:
    """map_groups stage over one whole band: rows sorted by band key; each run of equal keys is a
    bucket whose pairs are verified by their signatures (one call per band, numpy inside)."""

    def pairs(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = np.asarray(group["key"], dtype=np.uint64)
        sort = np.lexsort((np.asarray(group["order"], dtype=np.int64), keys))
        keys, order = keys[sort], np.asarray(group["order"], dtype=np.int64)[sort]
        short = np.stack(list(group["short"]))[sort] if len(sort) else np.zeros((0, 0), np.uint16)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
        sizes = np.diff(np.r_[starts, len(keys)])
        out_a, out_b, out_sim = [], [], []
        for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
            a, b = np.triu_indices(size, k=1)
            sim = (short[start + a] == short[start + b]).mean(axis=1)
            hit = sim >= threshold
            out_a.append(order[start + a[hit]])
            out_b.append(order[start + b[hit]])
            out_sim.append(sim[hit])
        if not out_a:
            return {"a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64), "sim": np.zeros(0, np.float64)}
        return {"a": np.concatenate(out_a), "b": np.concatenate(out_b), "sim": np.concatenate(out_sim)}

    return pairs


def _resolve(edges: dict[tuple[int, int], float], n_primed: int) -> Drops:
    """Union-find over verified pairs, then the local filter's in-order rule per component."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    neighbours: dict[int, list[tuple[int, float]]] = {}
    for (a, b), sim in edges.items():
        parent[find(a)] = find(b)
        neighbours.setdefault(b, []).append((a, sim))  # a < b: only earlier rows can drop b
    components: dict[int, list[int]] = {}
    for node in parent:
        components.setdefault(find(node), []).append(node)
    drops: Drops = {}
    for members in components.values():
        for row in sorted(members):
            if row < n_primed:
                continue  # primed rows (e.g. the seeds) are kept without a check, as locally
            kept = [(a, sim) for a, sim in neighbours.get(row, []) if a not in drops]
            if kept:
                best = max(kept, key=lambda item: (item[1], -item[0]))
                drops[row] = (best[0], round(best[1], 4))
    return drops


def minhash_drops(ds: Any, params: dict[str, Any], n_primed: int = 0) -> Drops:
    """Dataset with columns `order` (0..n-1, the local filter's order) and `text` -> dropped rows.

    Rows with order < n_primed are primed: kept unconditionally, like `Filter.prime`."""
    probe = MinHashDedup(**params)
    bands = ds.map_batches(_Signer, fn_constructor_args=(params,), batch_format="numpy", concurrency=(1, 4))
    # Shuffle by band: one group per band, spread over the cluster (bands run in parallel).
    pairs = bands.groupby("band").map_groups(_verified_pairs(probe.threshold), batch_format="numpy")
    edges: dict[tuple[int, int], float] = {}
    for batch in pairs.iter_batches(batch_format="numpy", batch_size=65536):
        for a, b, sim in zip(batch["a"].tolist(), batch["b"].tolist(), batch["sim"].tolist(), strict=True):
            edges[(a, b)] = sim  # the same pair from several bands: one edge
    return _resolve(edges, n_primed)


EXACT_BUCKETS = 64  # shuffle groups for exact dedup (a group holds ~n/64 keys of 16 bytes)
FIELD_SEP = "\x1f"  # joins a row's raw field values in the `text` column of an exact-dedup dataset


def exact_text(record: Record, fields: Sequence[str]) -> str:
    return FIELD_SEP.join(str(getattr(record, f)) for f in fields)


def _exact_key(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # The local ExactDedup key (each field normalized, joined) as a 128-bit hash in two columns:
    # 16 bytes per row cross the shuffle, not the text; a collision needs ~2^64 rows.
    digests = b"".join(
        hashlib.blake2b(FIELD_SEP.join(normalize(p) for p in str(t).split(FIELD_SEP)).encode(), digest_size=16).digest()
        for t in batch["text"]
    )
    halves = np.frombuffer(digests, dtype=np.uint64).reshape(-1, 2)
    hi, lo = halves[:, 0].copy(), halves[:, 1].copy()
    return {"bucket": (hi % EXACT_BUCKETS).astype(np.int32), "hi": hi, "lo": lo, "order": batch["order"]}


def _later_copies(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    hi, lo = np.asarray(group["hi"], dtype=np.uint64), np.asarray(group["lo"], dtype=np.uint64)
    order = np.asarray(group["order"], dtype=np.int64)
    sort = np.lexsort((order, lo, hi))
    hi, lo, order = hi[sort], lo[sort], order[sort]
    first_of_run = np.r_[True, (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])][: len(order)]
    run_start = np.maximum.accumulate(np.where(first_of_run, np.arange(len(order)), 0))
    return {"row": order[~first_of_run], "first": order[run_start][~first_of_run]}


def exact_drops(ds: Any, n_primed: int = 0) -> Drops:
    """Dataset with columns `order` and `text` (`exact_text`) -> rows that repeat an earlier key."""
    keyed = ds.map_batches(_exact_key, batch_format="numpy")
    later = keyed.groupby("bucket").map_groups(_later_copies, batch_format="numpy")
    drops: Drops = {}
    for batch in later.iter_batches(batch_format="numpy", batch_size=65536):
        for row, first in zip(batch["row"].tolist(), batch["first"].tolist(), strict=True):
            if row >= n_primed:
                drops[row] = (first, 1.0)
    return drops


def text_dataset(texts: Iterable[str], block_rows: int = 50_000) -> Any:
    """A Ray dataset of (order, text) built in blocks: the driver holds one block at a time; the
    rest lives in the object store (spilled to disk when it outgrows memory)."""
    import pyarrow as pa
    import ray
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    refs: list[Any] = []
    chunk: list[str] = []
    start = 0
    for text in texts:
        chunk.append(text)
        if len(chunk) >= block_rows:
            refs.append(ray.put(pa.table({"order": np.arange(start, start + len(chunk)), "text": chunk})))
            start, chunk = start + len(chunk), []
    if chunk or not refs:
        refs.append(ray.put(pa.table({"order": np.arange(start, start + len(chunk)), "text": chunk})))
    return ray.data.from_arrow_refs(refs)


def ray_minhash_dedup(
    records: Sequence[Record], params: dict[str, Any], primed: Sequence[Record] = (), block_rows: int = 50_000
) -> list[Verdict]:
    """The `minhash_dedup` filter's verdicts for `records` (in order), computed on Ray Data."""
    fields = MinHashDedup(**params).fields
    everything = [*primed, *records]
    ds = text_dataset((record_text(r, fields) for r in everything), block_rows)
    drops = minhash_drops(ds, params, len(primed))
    return _verdicts(everything, drops, len(primed), "minhash_near_duplicate")


def ray_exact_dedup(
    records: Sequence[Record], fields: list[str] | None = None, primed: Sequence[Record] = (), block_rows: int = 50_000
) -> list[Verdict]:
    """The `exact_dedup` filter's verdicts for `records` (in order), computed on Ray Data."""
    everything = [*primed, *records]
    fields = ExactDedup(fields).fields
    drops = exact_drops(text_dataset((exact_text(r, fields) for r in everything), block_rows), len(primed))
    return _verdicts(everything, drops, len(primed), "exact_duplicate")


def _verdicts(everything: list[Record], drops: Drops, n_primed: int, reason: str) -> list[Verdict]:
    out = []
    for k in range(n_primed, len(everything)):
        if k in drops:
            first, score = drops[k]
            meta: dict[str, Any] = {"duplicate_of": everything[first].id}
            if reason != "exact_duplicate":
                meta["score"] = score
            out.append(Verdict.drop(reason, **meta))
        else:
            out.append(Verdict.ok())
    return out
