"""What every verification method shares: the run's context, a judgement per text, the decision.

A method scores a batch of candidate texts (one round's) and says, per text, how likely each
label is and whether the intended label holds. Probabilities from every method are comparable
(they sum to one over the labels), which is what lets `ensemble` average them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from generator.classify_config import LabeledTask
from generator.gateway import Call, Gateway

# Texts -> (n, dim) unit vectors. Injected by the pipeline (the encoder lives with the filters).
Embed = Callable[[Sequence[str]], np.ndarray]
STAGE = "verification"


@dataclass
class VerifyContext:
    gateway: Gateway
    task: LabeledTask
    seeds: dict[str, list[str]]
    shots: list[tuple[str, str]]  # (text, label) demonstrations for the blind classifier
    embed: Embed | None = None
    # Per-run facts a method learns once (e.g. the calibrated prior), published in stats.json.
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    text: str
    intended: str
    key: str  # stable request key of the text (its record id)


@dataclass
class Judgement:
    """One method's word on one text. `probs` is None when the teacher gave no usable answer."""

    probs: dict[str, float] | None
    keep: bool
    reason: str | None = None  # label_mismatch | low_margin | label_issue | verification_failed
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def predicted(self) -> str | None:
        return None if self.probs is None else max(self.probs, key=lambda k: self.probs[k])  # type: ignore[index]

    def as_meta(self) -> dict[str, Any]:
        probs = None if self.probs is None else {k: round(v, 6) for k, v in self.probs.items()}
        return {"predicted": self.predicted, "probs": probs, "keep": self.keep, "reason": self.reason, **self.detail}


class Verifier(Protocol):
    name: str

    def calls_ahead(self, candidates: Sequence[Candidate], round_no: int) -> list[tuple[str, Call]]:
        """(stage, call) of the teacher requests `judge` will make for these candidates, so a
        streaming run can send them while the round's other texts still decode. Exactly the
        calls judge sends (same keys): anything else would be asked twice."""
        ...

    def judge(self, candidates: Sequence[Candidate], round_no: int) -> list[Judgement]: ...


def softmax(logits: dict[str, float]) -> dict[str, float]:
    top = max(logits.values())
    exp = {k: float(np.exp(v - top)) for k, v in logits.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def argmax_judgement(probs: dict[str, float], intended: str, labels: Sequence[str], **detail: Any) -> Judgement:
    """Keep when the intended label is the most likely; ties go to the label listed first."""
    winner = max(labels, key=lambda label: (probs[label], -labels.index(label)))
    if winner != intended:
        return Judgement(probs, False, "label_mismatch", detail)
    return Judgement(probs, True, None, detail)
