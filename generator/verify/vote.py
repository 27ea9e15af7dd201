"""vote: the blind classifier's majority over `samples` votes must name the intended label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generator.gateway import Call
from generator.verify.base import Candidate, Judgement, VerifyContext
from generator.verify.blind import VERIFY_STAGE, classify_texts, vote_calls


class VoteVerifier:
    name = "vote"

    def __init__(self, ctx: VerifyContext):
        self.ctx = ctx

    def _asks(self, round_no: int) -> dict[str, Any]:
        # One source for what judge asks and what calls_ahead sends: a drift would ask twice.
        verification = self.ctx.task.verification
        return {
            "samples": verification.samples,
            "sampling": verification.sampling(),
            "key": f"verify/r{round_no}",
            "shots": self.ctx.shots,
        }

    def calls_ahead(self, candidates: Sequence[Candidate], round_no: int) -> list[tuple[str, Call]]:
        calls = vote_calls(self.ctx.task, [c.text for c in candidates], **self._asks(round_no))
        return [(VERIFY_STAGE, call) for call in calls]

    def judge(self, candidates: Sequence[Candidate], round_no: int) -> list[Judgement]:
        verification = self.ctx.task.verification
        texts = [c.text for c in candidates]
        votes = classify_texts(self.ctx.gateway, self.ctx.task, texts, stage=VERIFY_STAGE, **self._asks(round_no))
        out = []
        for candidate, vote in zip(candidates, votes, strict=True):
            detail = {"confidence": vote.confidence, "votes": vote.votes, "request_ids": vote.request_ids}
            if vote.label is None:
                out.append(Judgement(None, False, "verification_failed", detail))
                continue
            shares = {label: vote.votes.get(label, 0) / verification.samples for label in self.ctx.task.label_names}
            # The majority (ties: first listed label) decides, exactly as before methods existed.
            keep = vote.label == candidate.intended
            out.append(Judgement(shares, keep, None if keep else "label_mismatch", {"vote": vote.label, **detail}))
        return out
