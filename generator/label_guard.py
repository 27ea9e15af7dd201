"""Per-label bookkeeping of a labeled run: where the next requests go, who falls behind, and why.

A teacher biased toward one label, or a verifier that trusts such a teacher, starves the other
labels. The run must notice while it happens (a label far behind the others is reported with its
likely cause), spend its requests where they are needed (the labels furthest from their quota,
sized by each label's observed yield), and refuse at the end to pass off a one-sided dataset.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prompts import Record

MIN_EVIDENCE = 10  # texts of a label seen before its acceptance rate is judged
LAG_FACTOR = 0.25  # behind: accepting under a quarter of the best label's rate
MIN_YIELD = 0.05  # a label that keeps nothing still gets requests, just not unbounded ones


@dataclass
class LabelTally:
    target: int
    generated: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    predicted: Counter[str] = field(default_factory=Counter)  # what verification said instead

    @property
    def need(self) -> int:
        return max(self.target - self.kept, 0)

    @property
    def acceptance(self) -> float:
        return self.kept / self.generated if self.generated else 0.0


@dataclass(frozen=True)
class Lag:
    label: str
    kept: int
    target: int
    generated: int
    acceptance: float
    cause: str
    advice: str

    def message(self) -> str:
        return (
            f"label {self.label!r} is falling behind: kept {self.kept} of {self.target} "
            f"({self.acceptance:.0%} of {self.generated} texts accepted). {self.cause} Try: {self.advice}"
        )


class LabelGuard:
    def __init__(self, targets: dict[str, int], overgenerate: float, method: str | None):
        self.tally = {label: LabelTally(target) for label, target in targets.items()}
        self.prior_yield = 1.0 / overgenerate
        self.method = method
        self.reported: set[str] = set()

    def observe(self, record: Record) -> None:
        """Count a candidate once its fate for this round is known (kept or rejected)."""
        entry = self.tally[record.label]
        entry.generated += 1
        if record.rejection is None:
            entry.kept += 1
            return
        entry.rejected[f"{record.rejection.stage}/{record.rejection.reason}"] += 1
        predicted = (record.meta.get("verification") or {}).get("predicted")
        if record.rejection.stage == "verification" and predicted and predicted != record.label:
            entry.predicted[predicted] += 1

    def allocate(self, per_text: int, per_label_cap: int, pending: Counter[str] | None = None) -> dict[str, int]:
        """Prompts per label for the next round.

        Each label wants enough prompts for its need at its observed yield (a prior of
        1/overgenerate until it has some), less the prompts `pending` for it (sent in rounds not
        yet judged: expected to yield at that same rate). Every short label first gets its want
        up to per_label_cap; what is left of the round's budget (per_label_cap per label) goes to
        the labels furthest from their quota, so a lagging label can take up to twice its cap.
        """
        pending = pending or Counter()
        want = {}
        for label, entry in self.tally.items():
            kept_yield = (entry.kept + self.prior_yield * 4) / (entry.generated + 4)
            prompts = math.ceil(entry.need / (max(kept_yield, MIN_YIELD) * per_text)) - pending[label]
            if prompts > 0:
                want[label] = min(2 * per_label_cap, prompts)
        out = {label: min(n, per_label_cap) for label, n in want.items()}
        budget = per_label_cap * len(self.tally) - sum(out.values())
        for label in sorted(want, key=lambda label: -self.tally[label].need / max(self.tally[label].target, 1)):
            extra = min(want[label] - out[label], budget)
            out[label] += extra
            budget -= extra
        return out

    def lagging(self) -> list[Lag]:
        """Labels accepting far less than the best one (or nothing at all), each reported once."""
        best = max((e.acceptance for e in self.tally.values() if e.generated), default=0.0)
        out = []
        for label, entry in self.tally.items():
            if label in self.reported or entry.need == 0 or entry.generated < MIN_EVIDENCE:
                continue
            if entry.acceptance < LAG_FACTOR * best or entry.kept == 0:
                self.reported.add(label)
                out.append(self.diagnose(label))
        return out

    def shortfalls(self, max_shortfall: float) -> list[Lag]:
        """Labels that missed their quota by more than `max_shortfall` of it."""
        return [
            self.diagnose(label)
            for label, entry in self.tally.items()
            if entry.target and entry.need > max_shortfall * entry.target
        ]

    def diagnose(self, label: str) -> Lag:
        entry = self.tally[label]
        cause, advice = likely_cause(label, entry, self.method)
        return Lag(label, entry.kept, entry.target, entry.generated, entry.acceptance, cause, advice)

    def summary(self) -> dict[str, Any]:
        return {
            label: {"acceptance": round(e.acceptance, 4), "predicted_instead": dict(e.predicted)}
            for label, e in self.tally.items()
        }


def likely_cause(label: str, entry: LabelTally, method: str | None) -> tuple[str, str]:
    """The dominant rejection of a label, in words, and what to change."""
    if not entry.rejected:
        return (
            "It was not asked for often enough before the round budget ran out.",
            "raise generation.max_rounds or generation.max_prompts_per_label.",
        )
    (top, count), total = entry.rejected.most_common(1)[0], sum(entry.rejected.values())
    share = f"{count} of {total} rejections are {top}."
    stage, _, reason = top.partition("/")
    if stage == "verification":
        if entry.predicted:
            other, n = entry.predicted.most_common(1)[0]
            share += f" Verification ({method}) put {n} of its texts under {other!r}: the teacher is likely biased."
        better = "calibrated, likelihood or ensemble" if method == "vote" else "another method (ensemble, likelihood)"
        return share, f"verification.method: {better}; more or clearer seeds for {label!r}; a stronger teacher."
    if stage == "validation":
        return share + " The teacher's output did not fit the schema.", (
            "raise generation.sampling.max_tokens or lower generation.texts_per_prompt; a stronger teacher."
        )
    if "dedup" in reason or "duplicate" in reason:
        return share + " Its texts repeat each other or the seeds.", (
            "more varied seeds, more attributes, a higher generation.sampling.temperature."
        )
    if reason.startswith("too_") or stage == "length" or "length" in reason:
        return share + " Its texts fall outside text_length.", "widen text_length or describe the length in the seeds."
    return share, "look at rejected.jsonl for this label; more or clearer seeds."
