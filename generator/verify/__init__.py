"""Verification of labeled texts: does each generated text carry the label it was written for?"""

from generator.verify.base import Candidate, Embed, Judgement, Verifier, VerifyContext
from generator.verify.blind import Vote, classify_texts, label_probs, pick_shots
from generator.verify.registry import VERIFIERS, make_verifier

__all__ = [
    "VERIFIERS",
    "Candidate",
    "Embed",
    "Judgement",
    "Verifier",
    "VerifyContext",
    "Vote",
    "classify_texts",
    "label_probs",
    "make_verifier",
    "pick_shots",
]
