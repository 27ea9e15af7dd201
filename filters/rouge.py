"""ROUGE-L near-duplicate filter (Self-Instruct / Alpaca: drop if ROUGE-L F1 > 0.7 to any pool row).

Decisions are exactly Alpaca's: each row is scored against the seeds and every earlier kept row
with rouge_score's tokenizer and arithmetic (textmetrics/rouge.py), and dropped if the maximum F1 exceeds the threshold.
What changes is the work per row:

* ROUGE-L F1 is 2·LCS/(m+n). Each token becomes one Unicode character, so a row is a `str` and
  rapidfuzz's bit-parallel C code computes the LCS (`LCSseq`) without touching Python objects.
* LCS ≤ |A ∩ B| as multisets, so 2·overlap/(m+n) bounds F1 from above. An inverted index over
  (token, occurrence) features gives every pool row's overlap with one numpy `bincount`; the LCS
  is then computed only for rows whose bound is within reach of the best score found so far
  (rows are taken best-bound first). The maximum is exact, not approximate: a row is skipped
  only when its bound is below a score already achieved.

Because the maximum is exact, kept rows still carry their most similar pool row and its score
in `meta`, exactly as a full scan would report them. Ties: among pool rows with the same exact
ratio 2·LCS/(m+n), the largest rouge_score float wins (two exact ties can round differently,
and Alpaca compares floats), then the earliest row.
"""

from __future__ import annotations

from array import array
from typing import ClassVar

import numpy as np
from rapidfuzz.distance import LCSseq

from filters.base import Filter, field_text
from prompts import Record, Verdict
from textmetrics import f1_from_lcs, rouge_tokens

_SURROGATES = 0x800  # code points D800-DFFF cannot live in a str
_MAX_TOKENS = 0x10FFFF + 1 - _SURROGATES
_OCC_SHIFT = 21  # code points fit in 21 bits; the occurrence number goes above them


class RougeNearDup(Filter):
    name: ClassVar[str] = "rouge_l"

    def __init__(self, threshold: float = 0.7, field: str = "instruction"):
        self.threshold = threshold
        self.field = field
        self._vocab: dict[str, str] = {}
        self._pool: list[str] = []
        self._lens = np.zeros(1024, dtype=np.int64)
        self._postings: dict[int, array[int]] = {}
        self._ids: list[str] = []
        self._texts: list[str] = []

    def _encode(self, text: str) -> str:
        chars = []
        for token in rouge_tokens(text):
            char = self._vocab.get(token)
            if char is None:
                code = len(self._vocab)
                if code >= _MAX_TOKENS:
                    raise ValueError("rouge_l: more distinct tokens than Unicode has code points; use minhash_dedup")
                char = self._vocab[token] = chr(code if code < 0xD800 else code + _SURROGATES)
            chars.append(char)
        return "".join(chars)

    @staticmethod
    def _features(row: str) -> list[int]:
        """(token, k-th occurrence) pairs: shared features = multiset overlap of two rows."""
        seen: dict[str, int] = {}
        features = []
        for char in row:
            k = seen.get(char, 0)
            seen[char] = k + 1
            features.append((k << _OCC_SHIFT) | ord(char))
        return features

    def _overlaps(self, row: str) -> np.ndarray:
        size = len(self._pool)
        lists = [self._postings[f] for f in self._features(row) if f in self._postings]
        if not lists:
            return np.zeros(size, dtype=np.int64)
        hits = np.concatenate([np.frombuffer(p, dtype=np.int32) for p in lists])
        return np.bincount(hits, minlength=size)

    def most_similar(self, row: str) -> tuple[int, float]:
        """Index of the pool row with the highest ROUGE-L F1 to `row` (exact), and that F1."""
        m = len(row)
        overlap = self._overlaps(row)
        if not overlap.any():
            return 0, 0.0  # every LCS is 0; a full scan would report the first row
        bound = 2.0 * overlap / (m + self._lens[: len(self._pool)])
        best_num, best_den = 0, 1  # best exact ratio so far, as a fraction 2·LCS / (m+n)
        lcs_of: dict[int, int] = {}
        candidates = np.flatnonzero(bound >= 0.8 * bound.max())
        while len(candidates):
            for i in candidates.tolist():
                other = self._pool[i]
                lcs = lcs_of[i] = LCSseq.similarity(row, other)
                if 2 * lcs * best_den > best_num * (m + len(other)):
                    best_num, best_den = 2 * lcs, m + len(other)
            # Every row whose bound reaches the best ratio could tie or beat it: check those too.
            reach = np.flatnonzero(bound >= best_num / best_den - 1e-9)
            candidates = reach[[i not in lcs_of for i in reach.tolist()]] if len(reach) else reach
        ties = sorted(i for i, lcs in lcs_of.items() if 2 * lcs * best_den == best_num * (m + len(self._pool[i])))
        scores = [(f1_from_lcs(lcs_of[i], m, len(self._pool[i])), -i) for i in ties]
        score, neg_index = max(scores)
        return -neg_index, score

    def check(self, record: Record) -> Verdict:
        row = self._encode(field_text(record, self.field))
        if not self._pool or not row:
            return Verdict.ok(score=0.0)
        index, score = self.most_similar(row)
        detail = {"most_similar": self._texts[index], "most_similar_id": self._ids[index]}
        if score > self.threshold:
            return Verdict.drop("rouge_l_near_duplicate", score=score, duplicate_of=self._ids[index], **detail)
        return Verdict.ok(score=score, **detail)

    def accept(self, record: Record) -> None:
        text = field_text(record, self.field)
        row = self._encode(text)
        index = len(self._pool)
        if index >= len(self._lens):
            self._lens = np.concatenate([self._lens, np.zeros_like(self._lens)])
        self._lens[index] = len(row)
        for feature in self._features(row):
            posting = self._postings.get(feature)
            if posting is None:
                posting = self._postings[feature] = array("i")
            posting.append(index)
        self._pool.append(row)
        self._ids.append(record.id)
        self._texts.append(text)
