"""The filter contract: look at one record, say keep or drop and why.

Filters that remember what they have seen (dedup) learn a record only through `accept`, which the
chain calls once the record has passed *every* filter: a row rejected later in the chain must not
shadow a future row as its "duplicate".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

from prompts import Record, Verdict


class Filter(ABC):
    name: ClassVar[str]

    @abstractmethod
    def check(self, record: Record) -> Verdict: ...

    def accept(self, record: Record) -> None:  # noqa: B027 - optional hook, not abstract
        """Remember a record that survived the whole chain (stateless filters ignore it)."""

    def prime(self, records: Iterable[Record]) -> None:
        """Seed the filter's memory with reference rows (the human seeds) before generation."""
        for record in records:
            self.accept(record)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


def field_text(record: Record, field: str) -> str:
    """The text a filter looks at; 'instruction' for instruction rows means the task statement."""
    value = getattr(record, field)
    if not isinstance(value, str):
        raise TypeError(f"field {field!r} is not text")
    return value
