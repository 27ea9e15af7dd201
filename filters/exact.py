"""Exact dedup on normalized text: Unicode NFKC, case-folded, whitespace collapsed, edge
punctuation stripped — so "Name 3 fruits." and "name 3 fruits" are one task."""

from __future__ import annotations

import string
import unicodedata
from typing import ClassVar

from filters.base import Filter
from prompts import Record, Verdict

_EDGE = string.punctuation + string.whitespace


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(_EDGE)


class ExactDedup(Filter):
    name: ClassVar[str] = "exact_dedup"

    def __init__(self, fields: list[str] | None = None):
        self.fields = list(fields or ["instruction", "input"])
        self._seen: dict[str, str] = {}

    def key(self, record: Record) -> str:
        return "\x1f".join(normalize(str(getattr(record, f))) for f in self.fields)

    def check(self, record: Record) -> Verdict:
        first = self._seen.get(self.key(record))
        if first is not None:
            return Verdict.drop("exact_duplicate", duplicate_of=first)
        return Verdict.ok()

    def accept(self, record: Record) -> None:
        self._seen.setdefault(self.key(record), record.id)
