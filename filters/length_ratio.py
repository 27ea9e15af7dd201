"""Response length relative to the prompt (instruction + input), in words.

A three-word answer to "rewrite this 120-word paragraph" is truncated or lazy; a 900-word answer
to "name a colour" is rambling. Ratios, not absolute lengths, so short tasks may have short
answers. Score: the ratio.
"""

from __future__ import annotations

from typing import ClassVar

from filters.base import Filter, record_text
from prompts import Record, Verdict


class LengthRatio(Filter):
    name: ClassVar[str] = "length_ratio"

    def __init__(
        self,
        min_ratio: float = 0.1,
        max_ratio: float = 60.0,
        prompt_fields: list[str] | None = None,
        response_fields: list[str] | None = None,
    ):
        if min_ratio > max_ratio:
            raise ValueError("length_ratio: min_ratio cannot exceed max_ratio")
        self.min_ratio = min_ratio
        self.max_ratio = max_ratio
        self.prompt_fields = list(prompt_fields or ["instruction", "input"])
        self.response_fields = list(response_fields or ["output"])

    def check(self, record: Record) -> Verdict:
        prompt = len(record_text(record, self.prompt_fields).split())
        response = len(record_text(record, self.response_fields).split())
        ratio = round(response / max(prompt, 1), 4)
        detail = {"prompt_words": prompt, "response_words": response}
        if ratio < self.min_ratio:
            return Verdict.drop("response_too_short", score=ratio, min_ratio=self.min_ratio, **detail)
        if ratio > self.max_ratio:
            return Verdict.drop("response_too_long", score=ratio, max_ratio=self.max_ratio, **detail)
        return Verdict.ok(score=ratio, **detail)
