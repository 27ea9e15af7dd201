"""The filter contract: look at one record, say keep or drop and why.

Filters that remember what they have seen (dedup) learn a record only through `accept`, which the
chain calls once the record has passed *every* filter: a row rejected later in the chain must not
shadow a future row as its "duplicate".

Filters with expensive per-row work (embeddings, a judge model) may also implement `prepare`, a
batch hook the chain calls on a block of rows before checking them one by one. `check` must give
the same verdict whether or not `prepare` ran: the hook only moves work into batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from prompts import Record, Verdict


class Filter(ABC):
    name: ClassVar[str]
    # Runtime objects a filter needs that cannot come from YAML (the judge's teacher, the default
    # encoder directory). The pipeline supplies them by name; see chain.build_filters.
    requires: ClassVar[tuple[str, ...]] = ()
    # Filters whose per-row path would send one model request per row may only run in chains that
    # are screened in batches (the `post` chain).
    batch_only: ClassVar[bool] = False

    @abstractmethod
    def check(self, record: Record) -> Verdict: ...

    def accept(self, record: Record) -> None:  # noqa: B027 - optional hook, not abstract
        """Remember a record that survived the whole chain (stateless filters ignore it)."""

    def prepare(self, records: Sequence[Record]) -> None:  # noqa: B027 - optional hook, not abstract
        """Batch hook: precompute per-row work for rows about to be checked (may include rows a
        previous filter will reject; must not change any verdict)."""

    def prime(self, records: Iterable[Record]) -> None:
        """Seed the filter's memory with reference rows (the human seeds) before generation."""
        for record in records:
            self.accept(record)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


def has_prepare(flt: Filter) -> bool:
    return type(flt).prepare is not Filter.prepare


def field_text(record: Record, field: str) -> str:
    """The text a filter looks at; 'instruction' for instruction rows means the task statement."""
    value = getattr(record, field)
    if not isinstance(value, str):
        raise TypeError(f"field {field!r} is not text")
    return value


def record_text(record: Record, fields: Sequence[str]) -> str:
    """Several fields joined as one text (e.g. instruction + input), skipping empty ones."""
    return "\n".join(t for t in (field_text(record, f) for f in fields) if t.strip())
