"""likelihood: which label's generation prompt explains the text best (SuperGen, Meng et al. 2022).

For every label y the teacher scores log p(text | "write one text of label y"). With a uniform
prior, softmax over those is p(y | text) — but it asks the teacher how it *writes* each label, not
how it *classifies*, so a classifier's habit of answering one label does not enter. A text is
kept when its intended label is the most likely by `margin` nats per token.
"""

from __future__ import annotations

from collections.abc import Sequence

from generator.gateway import Call
from generator.verify.base import Candidate, Judgement, VerifyContext, softmax
from generator.verify.blind import SCORE_SAMPLING
from prompts import get_spec, stable_hash

STAGE = "verify_likelihood"


def margin_per_token(loglik: dict[str, float], intended: str, tokens: int) -> float:
    """(log p(text|intended) - the best other label's) / tokens: how clearly the intended wins."""
    others = [v for label, v in loglik.items() if label != intended]
    return (loglik[intended] - max(others)) / max(tokens, 1)


class LikelihoodVerifier:
    name = "likelihood"

    def __init__(self, ctx: VerifyContext):
        self.ctx = ctx
        self.spec = get_spec("label_likelihood")

    def _call(self, text: str, label: str, description: str) -> Call:
        messages = self.spec.render(task=self.ctx.task.task, label=label, label_description=description or label)
        messages.append({"role": "assistant", "content": text})
        key = f"likelihood/{stable_hash(text)}/{label}"
        return Call(self.spec, messages, SCORE_SAMPLING, key=key, guided=False, score="reply")

    def calls_ahead(self, candidates: Sequence[Candidate], round_no: int) -> list[tuple[str, Call]]:
        labels = self.ctx.task.labels
        return [(STAGE, self._call(c.text, label.name, label.description)) for c in candidates for label in labels]

    def judge(self, candidates: Sequence[Candidate], round_no: int) -> list[Judgement]:
        task = self.ctx.task
        outcomes = self.ctx.gateway.run([call for _, call in self.calls_ahead(candidates, round_no)], STAGE)
        width = len(task.labels)
        out = []
        for i, candidate in enumerate(candidates):
            mine = outcomes[i * width : (i + 1) * width]
            completions = [o.completion for o in mine if o.ok and o.completion is not None]
            if len(completions) != width:
                out.append(Judgement(None, False, "verification_failed"))
                continue
            loglik = {
                label.name: float(c.reply_logprob or 0.0) for label, c in zip(task.labels, completions, strict=True)
            }
            tokens = int(completions[0].reply_tokens or 0)
            margin = margin_per_token(loglik, candidate.intended, tokens)
            detail = {
                "loglik": {k: round(v, 4) for k, v in loglik.items()},
                "tokens": tokens,
                "margin": round(margin, 4),
            }
            probs = softmax(loglik)
            if margin < 0:
                out.append(Judgement(probs, False, "label_mismatch", detail))
            elif margin < task.verification.margin:
                out.append(Judgement(probs, False, "low_margin", detail))
            else:
                out.append(Judgement(probs, True, None, detail))
        return out
