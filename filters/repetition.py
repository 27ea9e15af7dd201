"""Repetition: the share of duplicated word n-grams, the signature of a model stuck in a loop.

ratio = 1 - distinct n-grams / all n-grams over the response (Gopher's duplicate n-gram check,
by count rather than characters). Normal prose stays under ~0.1; "the the the" loops and answers
that restate one sentence five times go far above. Texts shorter than `min_words` are scored
but never dropped: a few words cannot repeat meaningfully.
"""

from __future__ import annotations

import re
from typing import ClassVar

from filters.base import Filter, record_text
from prompts import Record, Verdict

_WORD = re.compile(r"\w+")


def duplicate_ngram_ratio(text: str, n: int) -> float:
    words = _WORD.findall(text.casefold())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class Repetition(Filter):
    name: ClassVar[str] = "repetition"

    def __init__(self, ngram: int = 3, max_ratio: float = 0.3, min_words: int = 12, fields: list[str] | None = None):
        self.ngram = ngram
        self.max_ratio = max_ratio
        self.min_words = min_words
        self.fields = list(fields or ["output"])

    def check(self, record: Record) -> Verdict:
        text = record_text(record, self.fields)
        ratio = round(duplicate_ngram_ratio(text, self.ngram), 4)
        if ratio > self.max_ratio and len(text.split()) >= self.min_words:
            return Verdict.drop("repetitive", score=ratio, ngram=self.ngram, max_ratio=self.max_ratio)
        return Verdict.ok(score=ratio)
