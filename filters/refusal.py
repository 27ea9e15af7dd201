"""Refusals and assistant boilerplate in responses.

Two rules, as in the Alpaca/Vicuna clean-ups: an "As an AI language model…" disclaimer anywhere
is boilerplate a student should never learn; an apology or refusal opener ("I'm sorry", "I
cannot") is a refusal only when the answer is short, since long answers often open politely and
then answer. Score: 1.0 when a rule fires, else 0.0; the matched phrase is in `meta`.
"""

from __future__ import annotations

import re
from typing import ClassVar

from filters.base import Filter, record_text
from prompts import Record, Verdict

BOILERPLATE = (
    r"as an ai\b",
    r"as a language model",
    r"as an? (?:large )?language model",
    r"i am an ai\b",
    r"i'?m an ai\b",
    r"i am just an ai",
    r"as a helpful assistant",
    r"my knowledge cutoff",
    r"i don'?t have personal (?:opinions|feelings|experiences)",
    r"i do not have personal (?:opinions|feelings|experiences)",
    r"openai",
)
REFUSAL_OPENERS = (
    r"i'?m sorry",
    r"i am sorry",
    r"sorry, ",
    r"i apologi[sz]e",
    r"i cannot\b",
    r"i can'?t\b",
    r"i can not\b",
    r"i'?m (?:not able|unable) to",
    r"i am (?:not able|unable) to",
    r"unfortunately, i",
    r"i won'?t be able to",
)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})


def _compile(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


class Refusal(Filter):
    name: ClassVar[str] = "refusal"

    def __init__(
        self,
        max_words: int = 40,
        fields: list[str] | None = None,
        boilerplate: list[str] | None = None,
        openers: list[str] | None = None,
    ):
        self.max_words = max_words
        self.fields = list(fields or ["output"])
        self.boilerplate = list(boilerplate if boilerplate is not None else BOILERPLATE)
        self.openers = list(openers if openers is not None else REFUSAL_OPENERS)
        self._boilerplate = _compile(self.boilerplate) if self.boilerplate else None
        self._opener = re.compile(rf"^\W*(?:{'|'.join(self.openers)})", re.IGNORECASE) if self.openers else None

    def check(self, record: Record) -> Verdict:
        text = record_text(record, self.fields).translate(_APOSTROPHES)
        if self._boilerplate is not None:
            match = self._boilerplate.search(text)
            if match:
                return Verdict.drop("ai_boilerplate", score=1.0, phrase=match.group(0))
        if self._opener is not None:
            match = self._opener.search(text)
            words = len(text.split())
            if match and words <= self.max_words:
                return Verdict.drop("refusal", score=1.0, phrase=match.group(0).strip(), words=words)
        return Verdict.ok(score=0.0)
