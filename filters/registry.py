"""Config names → filter classes. A new filter is one file with one class and one line here."""

from __future__ import annotations

from filters.base import Filter
from filters.decontam import Decontaminate
from filters.evol import EvolElimination
from filters.exact import ExactDedup
from filters.heuristics import (
    Blocklist,
    EmptyOutput,
    NonAsciiStart,
    OutputEqualsInput,
    PunctuationStart,
    WordCount,
    WriteAProgram,
)
from filters.judge import LLMJudge
from filters.language import LanguageFilter
from filters.length_ratio import LengthRatio
from filters.minhash import MinHashDedup
from filters.refusal import Refusal
from filters.repetition import Repetition
from filters.rouge import RougeNearDup
from filters.semantic import SemanticDedup

FILTERS: dict[str, type[Filter]] = {
    "length": WordCount,
    "blocklist": Blocklist,
    "write_a_program": WriteAProgram,
    "punctuation_start": PunctuationStart,
    "non_ascii_start": NonAsciiStart,
    "empty_output": EmptyOutput,
    "output_equals_input": OutputEqualsInput,
    "exact_dedup": ExactDedup,
    "rouge_l": RougeNearDup,
    "minhash_dedup": MinHashDedup,
    "semantic_dedup": SemanticDedup,
    "language": LanguageFilter,
    "refusal": Refusal,
    "repetition": Repetition,
    "length_ratio": LengthRatio,
    "evol_elimination": EvolElimination,
    "decontaminate": Decontaminate,
    "llm_judge": LLMJudge,
}
