"""ensemble: the mean of the member methods' label probabilities; the intended label must win.

Members fail in different ways — the calibrated classifier still leans where its prior is too
weak, likelihood favours short generic texts, confident learning knows only what seeds and
texts look like — so their average is steadier than any one of them. Every member's judgement
is kept in meta.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from generator.gateway import Call
from generator.verify.base import Candidate, Judgement, Verifier, VerifyContext, argmax_judgement


class EnsembleVerifier:
    name = "ensemble"

    def __init__(self, ctx: VerifyContext, make: Callable[[str, VerifyContext], Verifier]):
        self.ctx = ctx
        self.members = [make(name, ctx) for name in ctx.task.verification.members]

    def calls_ahead(self, candidates: Sequence[Candidate], round_no: int) -> list[tuple[str, Call]]:
        return [item for member in self.members for item in member.calls_ahead(candidates, round_no)]

    def judge(self, candidates: Sequence[Candidate], round_no: int) -> list[Judgement]:
        verdicts = [member.judge(candidates, round_no) for member in self.members]
        labels = self.ctx.task.label_names
        out = []
        for i, candidate in enumerate(candidates):
            mine = [v[i] for v in verdicts]
            detail = {"members": {m.name: j.as_meta() for m, j in zip(self.members, mine, strict=True)}}
            scored = [j.probs for j in mine if j.probs is not None]
            if not scored:
                out.append(Judgement(None, False, "verification_failed", detail))
                continue
            mean = {label: sum(p[label] for p in scored) / len(scored) for label in labels}
            out.append(argmax_judgement(mean, candidate.intended, labels, **detail))
        return out
