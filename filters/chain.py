"""Run an ordered list of filters over records; the first drop decides the rejection."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from filters.base import Filter
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

    def prime(self, records: Iterable[Record]) -> None:
        records = list(records)
        for flt in self.filters:
            flt.prime(records)


def build_filters(specs: Sequence[FilterSpec]) -> list[Filter]:
    return [FILTERS[spec.name](**spec.params) for spec in specs]


def build_chain(stage: str, specs: Sequence[FilterSpec], prime: Iterable[Record] = ()) -> FilterChain:
    chain = FilterChain(stage, build_filters(specs))
    chain.prime(prime)
    return chain
