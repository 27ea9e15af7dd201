"""Run an ordered list of filters over records; the first drop decides the rejection.

A chain is sequential by definition: each row is checked against the memory of every earlier
row that passed the whole chain. `screen_many` keeps exactly those semantics while letting
filters with a batch hook (`prepare`) do their expensive work a block at a time: before a block
is checked row by row, each batch filter is prepared with the rows of the block that can still
reach it, judged by the filters before it against the state at the start of the block. That set
is a superset for dedup filters (a bigger memory only drops more), so the judge and the encoder
see few rows that an earlier filter rejects; and since `check` never depends on `prepare`, a
row that was not prepared is still screened correctly, only without the batching.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from filters.base import Filter, has_prepare
from filters.config import FilterSpec
from filters.registry import FILTERS
from prompts import Record


class FilterChain:
    def __init__(self, stage: str, filters: Sequence[Filter]):
        self.stage = stage
        self.filters = list(filters)
        self.seconds = 0.0

    def __call__(self, record: Record) -> Record:
        started = time.perf_counter()
        try:
            return self._apply(record)
        finally:
            self.seconds += time.perf_counter() - started

    def _apply(self, record: Record) -> Record:
        scores: dict[str, Any] = dict(record.meta.get("filters", {}))
        for flt in self.filters:
            verdict = flt.check(record)
            entry = {"score": verdict.score, **verdict.detail} if verdict.detail else verdict.score
            if entry is not None:
                scores[flt.name] = entry
            if not verdict.keep:
                rejected = record.with_meta(filters=scores)
                return rejected.reject(self.stage, verdict.reason or flt.name, filter=flt.name, **verdict.detail)
        kept = record.with_meta(filters=scores)
        for flt in self.filters:
            flt.accept(kept)
        return kept

    def would_keep(self, record: Record) -> bool:
        """Would the chain keep `record` now? Checks only: nothing is learnt or counted. A row kept
        now may still be rejected later (a dedup filter learns rows screened before it), never the
        reverse, since the filters' memory only grows."""
        return all(flt.check(record).keep for flt in self.filters)

    def screen_many(self, records: Iterable[Record], block: int = 512) -> list[Record]:
        """Screen rows in order, as calling the chain on each would, with batch hooks per block."""
        return list(self.screen_iter(records, block))

    def screen_iter(self, records: Iterable[Record], block: int = 512) -> Iterator[Record]:
        """`screen_many` as a stream: memory holds one block of rows, however many flow through."""
        pending: list[Record] = []
        for record in records:
            pending.append(record)
            if len(pending) >= block:
                yield from self._screen_block(pending)
                pending = []
        if pending:
            yield from self._screen_block(pending)

    def _screen_block(self, block: list[Record]) -> list[Record]:
        started = time.perf_counter()
        batch_positions = [i for i, flt in enumerate(self.filters) if has_prepare(flt)]
        if batch_positions:
            last = batch_positions[-1]
            alive = [r for r in block if not r.rejected]
            for i, flt in enumerate(self.filters[: last + 1]):
                if has_prepare(flt):
                    flt.prepare(alive)
                if i < last:
                    alive = [r for r in alive if flt.check(r).keep]
        self.seconds += time.perf_counter() - started
        return [r if r.rejected else self(r) for r in block]

    def prime(self, records: Iterable[Record]) -> None:
        records = list(records)
        for flt in self.filters:
            flt.prime(records)

    @property
    def batch_only(self) -> list[str]:
        return [flt.name for flt in self.filters if flt.batch_only]


def build_filters(specs: Sequence[FilterSpec], resources: Mapping[str, Any] | None = None) -> list[Filter]:
    """Instantiate filters from config; runtime objects a filter `requires` come from `resources`."""
    resources = resources or {}
    filters = []
    for spec in specs:
        cls = FILTERS[spec.name]
        filters.append(cls(**spec.params, **{r: resources[r] for r in cls.requires if r in resources}))
    return filters


def build_chain(
    stage: str,
    specs: Sequence[FilterSpec],
    prime: Iterable[Record] = (),
    resources: Mapping[str, Any] | None = None,
) -> FilterChain:
    chain = FilterChain(stage, build_filters(specs, resources))
    chain.prime(prime)
    return chain
