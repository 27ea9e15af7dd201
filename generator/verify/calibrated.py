"""calibrated: the teacher's label probabilities divided by its prior on content-free inputs.

Zhao et al. 2021 ("Calibrate Before Use"): a model's preference for one label shows up even
when the input says nothing ("N/A", "", "[MASK]"). Dividing by that prior (W = diag(p_cf)^-1)
removes the preference the input did not cause — exactly the bias that makes a small teacher
answer one label for everything. The prior is estimated once per run, with the same few-shot
prompt the texts get, and published in stats.json.

`prior: batch` estimates the same bias from the texts themselves instead (Zhou et al. 2023,
"Batch Calibration"): the mean of p(y|x) over every text judged so far. Generation asks for the
labels in roughly equal measure, so a mean far from uniform is the classifier's lean, not the data's.
"""

from __future__ import annotations

from collections.abc import Sequence

from generator.classify_config import LabeledTask
from generator.gateway import Call, Gateway
from generator.verify.base import Candidate, Judgement, VerifyContext, argmax_judgement
from generator.verify.blind import label_probs, score_calls

STAGE = "verify_calibrated"
SCORE_KEY = "calibrated"  # judge and calls_ahead must ask under the same key


def calibrate(probs: dict[str, float], prior: dict[str, float]) -> dict[str, float]:
    """p(y|x) / p_cf(y), renormalised. A prior of exactly 0 cannot be divided by; it stays 0."""
    scaled = {label: (p / prior[label] if prior[label] > 0 else 0.0) for label, p in probs.items()}
    total = sum(scaled.values())
    return {label: v / total for label, v in scaled.items()} if total > 0 else dict(probs)


def average(vectors: Sequence[dict[str, float]]) -> dict[str, float]:
    return {label: sum(v[label] for v in vectors) / len(vectors) for label in vectors[0]}


class CalibratedVerifier:
    name = "calibrated"

    def __init__(self, ctx: VerifyContext):
        self.ctx = ctx
        self._prior: dict[str, float] | None = None
        self._seen: list[dict[str, float]] = []  # raw probabilities so far (batch prior)

    def prior(self) -> dict[str, float]:
        if self._prior is None:
            inputs = list(self.ctx.task.verification.content_free)
            found = [p for p in self._probs(inputs, "calibration") if p is not None]
            if not found:
                raise RuntimeError(
                    "the teacher scored none of the content-free inputs, so `calibrated` verification cannot "
                    "calibrate: scoring needs token logprobs (the in-process vLLM teacher, or `vllm serve` with "
                    "/tokenize); the journal's quarantined requests say why they failed. With a teacher that "
                    "cannot score, set `verification: {method: vote}` or `{method: confident_learning}`"
                )
            self._prior = average(found)
            self.ctx.facts["calibration_prior"] = {k: round(v, 6) for k, v in self._prior.items()}
        return self._prior

    def _probs(self, texts: Sequence[str], key: str) -> list[dict[str, float] | None]:
        return label_probs(self.ctx.gateway, self.ctx.task, texts, key=key, stage=STAGE, shots=self.ctx.shots)

    def calls_ahead(self, candidates: Sequence[Candidate], round_no: int) -> list[tuple[str, Call]]:
        calls = score_calls(self.ctx.task, [c.text for c in candidates], key=SCORE_KEY, shots=self.ctx.shots)
        return [(STAGE, call) for call in calls]

    def judge(self, candidates: Sequence[Candidate], round_no: int) -> list[Judgement]:
        labels = self.ctx.task.label_names
        scored = self._probs([c.text for c in candidates], SCORE_KEY)
        if self.ctx.task.verification.prior == "batch":
            self._seen += [p for p in scored if p is not None]
            prior = average(self._seen) if self._seen else dict.fromkeys(labels, 1.0 / len(labels))
            self.ctx.facts["calibration_prior"] = {k: round(v, 6) for k, v in prior.items()}
        else:
            prior = self.prior()
        out = []
        for candidate, raw in zip(candidates, scored, strict=True):
            if raw is None:
                out.append(Judgement(None, False, "verification_failed"))
                continue
            uncalibrated = {k: round(v, 6) for k, v in raw.items()}
            out.append(argmax_judgement(calibrate(raw, prior), candidate.intended, labels, raw_probs=uncalibrated))
        return out


def calibrated_labels(
    gateway: Gateway, task: LabeledTask, texts: Sequence[str], shots: Sequence[tuple[str, str]], key: str, stage: str
) -> list[str | None]:
    """The teacher as a calibrated classifier: the argmax of p(y|x) / p_cf(y) (a baseline)."""
    ctx = VerifyContext(gateway, task, {}, list(shots))
    verifier = CalibratedVerifier(ctx)
    prior = verifier.prior()
    out: list[str | None] = []
    for probs in label_probs(gateway, task, texts, key=key, stage=stage, shots=shots):
        if probs is None:
            out.append(None)
            continue
        calibrated = calibrate(probs, prior)
        out.append(max(task.label_names, key=lambda label: calibrated[label]))
    return out
