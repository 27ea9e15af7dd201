"""ROUGE-L near-duplicate filter (Self-Instruct / Alpaca: drop if ROUGE-L F1 > 0.7 to any pool row).

ROUGE-L F1 is 2·LCS/(m+n), which is exactly rapidfuzz's Indel normalized similarity on token
sequences; rapidfuzz computes the LCS with a bit-parallel algorithm in C instead of the O(m·n)
Python table in `rouge_score`. Tokens follow rouge_score's default tokenizer (lowercase, split on
non-alphanumerics, no stemming), and the final F1 uses rouge_score's own arithmetic so the scores
are bit-identical, not merely close.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rapidfuzz import process
from rapidfuzz.distance import Indel

from filters.base import Filter, field_text
from prompts import Record, Verdict

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    return [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]


def f1_from_lcs(lcs: int, m: int, n: int) -> float:
    """rouge_score's F-measure, operation for operation (p and r first, then 2pr/(p+r))."""
    if not m or not n:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def lcs_length(a: list[int] | list[str], b: list[int] | list[str]) -> int:
    return (len(a) + len(b) - Indel.distance(a, b)) // 2


def rouge_l_f1(a: str, b: str) -> float:
    ta, tb = rouge_tokens(a), rouge_tokens(b)
    return f1_from_lcs(lcs_length(ta, tb), len(ta), len(tb))


class RougeNearDup(Filter):
    name: ClassVar[str] = "rouge_l"

    def __init__(self, threshold: float = 0.7, field: str = "instruction"):
        self.threshold = threshold
        self.field = field
        self._vocab: dict[str, int] = {}
        self._pool: list[list[int]] = []
        self._ids: list[str] = []
        self._texts: list[str] = []

    def _encode(self, text: str) -> list[int]:
        # Integer tokens make rapidfuzz compare machine words instead of Python strings.
        return [self._vocab.setdefault(t, len(self._vocab)) for t in rouge_tokens(text)]

    def check(self, record: Record) -> Verdict:
        text = field_text(record, self.field)
        tokens = self._encode(text)
        if not self._pool or not tokens:
            return Verdict.ok(score=0.0)
        best = process.extractOne(tokens, self._pool, scorer=Indel.normalized_similarity, processor=None)
        index = best[2]
        other = self._pool[index]
        score = f1_from_lcs(lcs_length(tokens, other), len(tokens), len(other))
        detail = {"most_similar": self._texts[index], "most_similar_id": self._ids[index]}
        if score > self.threshold:
            return Verdict.drop("rouge_l_near_duplicate", score=score, duplicate_of=self._ids[index], **detail)
        return Verdict.ok(score=score, **detail)

    def accept(self, record: Record) -> None:
        text = field_text(record, self.field)
        self._pool.append(self._encode(text))
        self._ids.append(record.id)
        self._texts.append(text)
