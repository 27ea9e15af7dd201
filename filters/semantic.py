"""Semantic near-duplicate filter: sentence embeddings, cosine similarity to every kept row.

Same sequential semantics as the other dedup filters: a row is dropped when its embedding has
cosine ≥ `threshold` with a seed or an earlier kept row. `meta` records the nearest kept row and
its cosine for every row, and a cluster id: a kept row heads its own cluster (nothing kept before
it is that close), a dropped row joins the cluster of the kept row it duplicates.

Embeddings are computed in batches by `prepare` (the chain calls it per block); each prepared
row is searched against the kept rows at that moment in one blocked matrix product, and `check`
then only compares it with the rows kept since (at most one block). Search is exact
(`index: exact`, numpy, ~1.5 KB per kept row) or approximate (`index: hnsw`, usearch graph,
f16 vectors; rows kept since the last batch are still compared exactly). Exact search costs
O(kept) per row: fine to ~100K rows on two cores; use hnsw beyond.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from filters.base import Filter, record_text
from filters.embeddings import embed, resolve_model
from prompts import Record, Verdict

_CHUNK = 65536  # kept rows per block of the similarity matrix (bounds its memory)
_FLUSH_UNPREPARED = 4096  # hnsw without batches: graph-insert once this many rows are pending


class VectorStore:
    """Kept vectors with best-match search over a prefix [0, upto) and exact search over the rest."""

    def __init__(self, index: str, connectivity: int = 16, expansion: int = 64):
        self.index = index
        self.size = 0
        self._vecs = np.zeros((0, 0), dtype=np.float32)  # exact: all rows; hnsw: rows since flush
        self._base = 0  # hnsw: rows [0, _base) live in the graph
        self._graph: Any = None
        self._graph_args: dict[str, Any] = {
            "connectivity": connectivity,
            "expansion_add": 2 * expansion,
            "expansion_search": expansion,
        }

    def _rows(self, start: int, stop: int) -> np.ndarray:
        return self._vecs[start - self._base : stop - self._base]

    def add(self, vector: np.ndarray) -> None:
        used = self.size - self._base
        if not len(self._vecs):
            self._vecs = np.zeros((1024, len(vector)), dtype=np.float32)
        elif used >= len(self._vecs):
            self._vecs = np.concatenate([self._vecs, np.zeros_like(self._vecs)])
        self._vecs[used] = vector
        self.size += 1

    def flush(self) -> None:
        """hnsw: move rows kept since the last flush into the graph (one bulk, single-threaded
        insert, so the graph — and every later answer — is the same on every run)."""
        if self.index != "hnsw" or self.size == self._base:
            return
        pending = self._rows(self._base, self.size)
        if self._graph is None:
            from usearch.index import Index

            self._graph = Index(ndim=pending.shape[1], metric="ip", dtype="f16", **self._graph_args)
        self._graph.add(np.arange(self._base, self.size, dtype=np.uint64), pending, threads=1)
        self._vecs = np.zeros_like(self._vecs)
        self._base = self.size

    def search_exact(self, queries: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Best row in [start, stop) for each query: (index, cosine); -1 / -inf where empty."""
        best = np.full(len(queries), -1, dtype=np.int64)
        sims = np.full(len(queries), -np.inf, dtype=np.float32)
        for lo in range(start, stop, _CHUNK):
            hi = min(stop, lo + _CHUNK)
            block = queries @ self._rows(lo, hi).T
            arg = block.argmax(axis=1)
            top = block[np.arange(len(queries)), arg]
            better = top > sims  # strictly: on ties the earlier row stays
            best[better], sims[better] = arg[better] + lo, top[better]
        return best, sims

    def search(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Best kept row for each query over all current rows, and the size it covered."""
        best, sims = self.search_exact(queries, self._base, self.size)
        if self._graph is not None and len(self._graph):
            found = self._graph.search(queries, 1, threads=1)
            keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)[:, 0]
            cos = 1.0 - np.asarray(found.distances, dtype=np.float32).reshape(len(queries), -1)[:, 0]
            better = cos >= sims  # graph rows are the earlier ones: they win ties
            best[better], sims[better] = keys[better], cos[better]
        return best, sims, self.size

    @property
    def pending(self) -> int:
        return self.size - self._base


class SemanticDedup(Filter):
    name: ClassVar[str] = "semantic_dedup"
    requires: ClassVar[tuple[str, ...]] = ("encoder_dir",)

    def __init__(
        self,
        threshold: float = 0.9,
        model: str | None = None,
        fields: list[str] | None = None,
        index: Literal["exact", "hnsw"] = "exact",
        batch_size: int = 64,
        encoder_dir: str | None = None,
    ):
        if index not in ("exact", "hnsw"):
            raise ValueError("semantic_dedup: index is 'exact' or 'hnsw'")
        self.threshold = threshold
        self.model = resolve_model(model, encoder_dir, self.name)
        self.fields = list(fields or ["instruction", "input"])
        self.index = index
        self.batch_size = batch_size
        self._store = VectorStore(index)
        self._ids: list[str] = []
        self._prepared: dict[str, tuple[np.ndarray, int, float, int]] = {}
        self._single: dict[str, tuple[np.ndarray, int, float, int]] = {}  # last per-row lookup

    def embed(self, records: Sequence[Record]) -> np.ndarray:
        return embed(self.model, [record_text(r, self.fields) for r in records], self.batch_size)

    def prepare(self, records: Sequence[Record]) -> None:
        self._prepared, self._single = {}, {}  # the previous block is done; snapshots expire on flush
        self._store.flush()
        if not records:
            return
        vectors = self.embed(records)
        best, sims, covered = self._store.search(vectors)
        self._prepared = {r.id: (vectors[i], int(best[i]), float(sims[i]), covered) for i, r in enumerate(records)}

    def prime(self, records: Iterable[Record]) -> None:
        records = list(records)
        for record, vector in zip(records, self.embed(records), strict=True):
            self._add(record.id, vector)

    def _nearest(self, record: Record) -> tuple[np.ndarray, int, float]:
        item = self._prepared.get(record.id) or self._single.get(record.id)
        if item is None:  # the per-row path: one embedding, one search
            if not self._prepared and self._store.pending >= _FLUSH_UNPREPARED:
                self._single = {}
                self._store.flush()
            vector = self.embed([record])[0]
            best, sims, covered = self._store.search(vector[None, :])
            item = (vector, int(best[0]), float(sims[0]), covered)
            self._single = {record.id: item}
        vector, index, sim, covered = item
        if covered < self._store.size:  # rows kept since the batch search: compare exactly
            late, late_sim = self._store.search_exact(vector[None, :], covered, self._store.size)
            if late_sim[0] > sim:
                index, sim = int(late[0]), float(late_sim[0])
        return vector, index, sim

    def check(self, record: Record) -> Verdict:
        _, index, sim = self._nearest(record)
        if index < 0:
            return Verdict.ok(score=None, cluster=record.id)
        score = round(sim, 4)
        other = self._ids[index]
        if sim >= self.threshold:
            return Verdict.drop("semantic_near_duplicate", score=score, duplicate_of=other, cluster=other)
        return Verdict.ok(score=score, nearest_id=other, cluster=record.id)

    def accept(self, record: Record) -> None:
        item = self._prepared.get(record.id) or self._single.get(record.id)
        self._add(record.id, item[0] if item is not None else self.embed([record])[0])

    def _add(self, record_id: str, vector: np.ndarray) -> None:
        self._store.add(vector)
        self._ids.append(record_id)
