"""Self-Instruct / Alpaca post-processing heuristics, one small class per rule.

They reproduce the rules in Alpaca's generate_instruction.py: instructions of ≤ 3 or > 150
words, ones that mention things a text model cannot do (images, files, audio...), "Write a
program" prompts, and ones starting with punctuation or a non-ASCII character are dropped.
"""

from __future__ import annotations

import re
import string
from typing import ClassVar

from filters.base import Filter, field_text
from prompts import Record, Verdict

ALPACA_BLOCKLIST = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
)


class WordCount(Filter):
    """Alpaca keeps instructions with min_words..max_words words (default: 4..150, i.e. > 3)."""

    name: ClassVar[str] = "length"

    def __init__(self, min_words: int = 4, max_words: int = 150, field: str = "instruction"):
        self.min_words, self.max_words, self.field = min_words, max_words, field

    def check(self, record: Record) -> Verdict:
        words = len(field_text(record, self.field).split())
        if words < self.min_words:
            return Verdict.drop("too_short", score=words, words=words, min_words=self.min_words)
        if words > self.max_words:
            return Verdict.drop("too_long", score=words, words=words, max_words=self.max_words)
        return Verdict.ok(score=words)


class Blocklist(Filter):
    """Whole-word, case-insensitive match against words a text-only model cannot act on."""

    name: ClassVar[str] = "blocklist"

    def __init__(
        self, words: list[str] | None = None, extra_words: list[str] | None = None, field: str = "instruction"
    ):
        self.words = list(words if words is not None else ALPACA_BLOCKLIST) + list(extra_words or [])
        self.field = field
        alternation = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
        self._pattern = re.compile(rf"\b({alternation})\b", re.IGNORECASE) if self.words else None

    def check(self, record: Record) -> Verdict:
        if self._pattern is not None:
            match = self._pattern.search(field_text(record, self.field))
            if match:
                return Verdict.drop("blocklisted_word", word=match.group(1).lower())
        return Verdict.ok()


class WriteAProgram(Filter):
    """Alpaca saw its teacher drift into "Write a program ..." variants of everything."""

    name: ClassVar[str] = "write_a_program"

    def __init__(self, prefixes: list[str] | None = None, field: str = "instruction"):
        self.prefixes = list(prefixes or ["Write a program"])
        self.field = field

    def check(self, record: Record) -> Verdict:
        text = field_text(record, self.field)
        for prefix in self.prefixes:
            if text.startswith(prefix):
                return Verdict.drop("write_a_program", prefix=prefix)
        return Verdict.ok()


class PunctuationStart(Filter):
    name: ClassVar[str] = "punctuation_start"

    def __init__(self, field: str = "instruction"):
        self.field = field

    def check(self, record: Record) -> Verdict:
        text = field_text(record, self.field)
        if text and text[0] in string.punctuation:
            return Verdict.drop("starts_with_punctuation", char=text[0])
        return Verdict.ok()


class NonAsciiStart(Filter):
    name: ClassVar[str] = "non_ascii_start"

    def __init__(self, field: str = "instruction"):
        self.field = field

    def check(self, record: Record) -> Verdict:
        text = field_text(record, self.field)
        if not text:
            return Verdict.drop("empty_instruction")
        if not text[0].isascii():
            return Verdict.drop("starts_with_non_ascii", char=text[0])
        return Verdict.ok()


class EmptyOutput(Filter):
    name: ClassVar[str] = "empty_output"

    def check(self, record: Record) -> Verdict:
        return Verdict.ok() if record.output.strip() else Verdict.drop("empty_output")


class OutputEqualsInput(Filter):
    """An answer that repeats its input (or the instruction) teaches the student to echo."""

    name: ClassVar[str] = "output_equals_input"

    def check(self, record: Record) -> Verdict:
        out = " ".join(record.output.lower().split())
        if record.input.strip() and out == " ".join(record.input.lower().split()):
            return Verdict.drop("output_equals_input")
        if out == " ".join(record.instruction.lower().split()):
            return Verdict.drop("output_equals_instruction")
        return Verdict.ok()
