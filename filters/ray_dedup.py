"""Exact and MinHash-LSH dedup as Ray Data stages, for pools too large for one machine's memory.

MinHash: signatures and band keys are computed where the rows are (map_batches, with the very
`MinHashDedup` code the local filter runs, so hashes, bands and the 16-bit signature slice are
identical); rows are exploded to one entry per band and shuffled by (band, key); each bucket emits
its candidate pairs verified at the threshold. Only verified pairs reach the driver. There a
union-find joins them into components, and each component is resolved in row order with the
local filter's rule — a row is dropped when a *kept* earlier row is a verified candidate, and it
names the most similar one (earliest on ties) — so the kept set equals the local filter's on the
same input, chains of near-duplicates included (A~B, B~C, A≁C keeps A and C, as locally).

Exact: rows are keyed by a hash of their normalized fields (the local `ExactDedup` key) and
shuffled by key; every row but the first of its key is a duplicate of the first.

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
    def pairs(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        order = np.asarray(group["order"], dtype=np.int64)
        empty = {"a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64), "sim": np.zeros(0, np.float64)}
        if len(order) < 2:
            return empty
        sort = np.argsort(order, kind="stable")
        order, short = order[sort], np.stack(list(group["short"]))[sort]
        a, b = np.triu_indices(len(order), k=1)
        sim = (short[a] == short[b]).mean(axis=1)
        hit = sim >= threshold
        return {"a": order[a[hit]], "b": order[b[hit]], "sim": sim[hit]}

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
    pairs = bands.groupby(["band", "key"]).map_groups(_verified_pairs(probe.threshold), batch_format="numpy")
    edges: dict[tuple[int, int], float] = {}
    for batch in pairs.iter_batches(batch_format="numpy", batch_size=65536):
        for a, b, sim in zip(batch["a"].tolist(), batch["b"].tolist(), batch["sim"].tolist(), strict=True):
            edges[(a, b)] = sim  # the same pair from several bands: one edge
    return _resolve(edges, n_primed)


FIELD_SEP = "\x1f"  # joins a row's raw field values in the `text` column of an exact-dedup dataset


def exact_text(record: Record, fields: Sequence[str]) -> str:
    return FIELD_SEP.join(str(getattr(record, f)) for f in fields)


def _exact_key(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # The local ExactDedup key (each field normalized, joined), hashed: 16 bytes, not the text, shuffle.
    keys = [
        hashlib.blake2b(
            FIELD_SEP.join(normalize(p) for p in str(t).split(FIELD_SEP)).encode(), digest_size=16
        ).hexdigest()
        for t in batch["text"]
    ]
    return {"key": np.asarray(keys), "order": np.asarray(batch["order"], dtype=np.int64)}


def _later_copies(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.sort(np.asarray(group["order"], dtype=np.int64))
    return {"row": order[1:], "first": np.full(len(order) - 1, order[0] if len(order) else 0, dtype=np.int64)}


def exact_drops(ds: Any, n_primed: int = 0) -> Drops:
    """Dataset with columns `order` and `text` (`exact_text`) -> rows that repeat an earlier key."""
    keyed = ds.map_batches(_exact_key, batch_format="numpy")
    later = keyed.groupby("key").map_groups(_later_copies, batch_format="numpy")
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
