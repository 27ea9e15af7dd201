"""Verification method names -> classes. A new method is one file plus one line here."""

from __future__ import annotations

from collections.abc import Callable

from generator.verify.base import Verifier, VerifyContext
from generator.verify.calibrated import CalibratedVerifier
from generator.verify.confident import ConfidentLearningVerifier
from generator.verify.likelihood import LikelihoodVerifier
from generator.verify.vote import VoteVerifier

VERIFIERS: dict[str, Callable[[VerifyContext], Verifier]] = {
    "vote": VoteVerifier,
    "calibrated": CalibratedVerifier,
    "likelihood": LikelihoodVerifier,
    "confident_learning": ConfidentLearningVerifier,
}


def make_verifier(name: str, ctx: VerifyContext) -> Verifier:
    if name == "ensemble":
        from generator.verify.ensemble import EnsembleVerifier

        return EnsembleVerifier(ctx, make_verifier)
    return VERIFIERS[name](ctx)
