"""Config names → filter classes. A new filter is one file with one class and one line here."""

from __future__ import annotations

from filters.base import Filter
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
from filters.rouge import RougeNearDup

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
}
