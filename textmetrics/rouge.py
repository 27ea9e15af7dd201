"""ROUGE-L F1 with rouge_score's tokenizer and arithmetic, computed with rapidfuzz.

One implementation for the near-duplicate filter (filters/rouge.py, which adds an index over a
pool on top) and the LM student's evaluation (finetune/lm_eval.py). Both promise equality with
rouge_score's `RougeScorer(["rougeL"])` without stemming; tests hold them to it.
"""

from __future__ import annotations

import re

from rapidfuzz.distance import Indel

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer: lowercase, split on non-alphanumerics, no stemming."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def f1_from_lcs(lcs: int, m: int, n: int) -> float:
    """rouge_score's F-measure for an LCS of a reference of m tokens and a candidate of n,
    operation for operation (precision and recall first, then 2pr/(p+r)), so floats match."""
    if not m or not n:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def lcs_length(a: list[int] | list[str] | str, b: list[int] | list[str] | str) -> int:
    # Indel distance counts insertions and deletions only: m + n - 2·LCS.
    return (len(a) + len(b) - Indel.distance(a, b)) // 2


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1 of `candidate` against `reference` (symmetric in value, named for clarity)."""
    ref, cand = rouge_tokens(reference), rouge_tokens(candidate)
    return f1_from_lcs(lcs_length(ref, cand), len(ref), len(cand))
