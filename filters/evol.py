"""Evol-Instruct's elimination rules (WizardLM, Xu et al. 2023, "Elimination Evolving").

An evolved instruction fails when
1. it brings no information gain over the instruction it evolved from: the paper asks ChatGPT;
   here the rewrite must differ after normalisation and keep ROUGE-L F1 to its parent at or
   below `max_parent_rouge` (a near-copy adds nothing). Needs the parent in
   `meta[parent_key]` (a string, or a dict with "instruction"); rows without one skip this rule;
2. the response contains "sorry" and is shorter than `sorry_words` (80) words;
3. the response is only punctuation and stop words;
4. the instruction copies words of the evolving prompt ("given prompt", "#Rewritten Prompt#"...).
Score: the ROUGE-L F1 to the parent when there is one.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from filters.base import Filter
from filters.exact import normalize
from prompts import Record, Verdict
from textmetrics import rouge_l

STOPWORDS = frozenset(
    re.findall(
        r"\S+",
        "a about above after again against all am an and any are as at be because been before being below between "
        "both but by can could did do does doing down during each few for from further had has have having he her "
        "here hers herself him himself his how i if in into is it its itself just me more most my myself no nor "
        "not now of off on once only or other our ours ourselves out over own same she should so some such than "
        "that the their theirs them themselves then there these they this those through to too under until up "
        "very was we were what when where which while who whom why will with would you your yours yourself "
        "yourselves ok okay yes",
    )
)
PROMPT_WORDS = (
    "given prompt",
    "rewritten prompt",
    "created prompt",
    "#given prompt#",
    "#rewritten prompt#",
    "#created prompt#",
    "new prompt",
    "the prompt above",
)
_WORD = re.compile(r"[a-z0-9']+")


def _parent(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if isinstance(value, dict):
        value = value.get("instruction")
    return value if isinstance(value, str) else None


class EvolElimination(Filter):
    name: ClassVar[str] = "evol_elimination"

    def __init__(
        self,
        max_parent_rouge: float = 0.9,
        sorry_words: int = 80,
        parent_key: str = "evolved_from",
        prompt_words: list[str] | None = None,
    ):
        self.max_parent_rouge = max_parent_rouge
        self.sorry_words = sorry_words
        self.parent_key = parent_key
        self.prompt_words = [w.lower() for w in (prompt_words or PROMPT_WORDS)]

    def check(self, record: Record) -> Verdict:
        score = None
        parent = _parent(record.meta, self.parent_key)
        if parent is not None:
            score = round(rouge_l(record.instruction, parent), 4)
            if normalize(parent) == normalize(record.instruction) or score > self.max_parent_rouge:
                return Verdict.drop("no_information_gain", score=score, parent=parent)
        output = record.output
        if "sorry" in output.lower() and len(output.split()) < self.sorry_words:
            return Verdict.drop("sorry_short_response", score=score, words=len(output.split()))
        words = _WORD.findall(output.lower().replace("’", "'"))
        if all(w in STOPWORDS for w in words):
            return Verdict.drop("stopwords_only_response", score=score)
        instruction = record.instruction.lower()
        for phrase in self.prompt_words:
            if phrase in instruction:
                return Verdict.drop("copied_prompt_words", score=score, phrase=phrase)
        return Verdict.ok(score=score)
