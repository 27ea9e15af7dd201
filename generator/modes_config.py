"""Configuration of the generation modes that follow Self-Instruct: Evol-Instruct, augmentation
and multi-turn. Each is off by default (zero rounds, variants or turns) and costs nothing then."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from generator.teachers.base import SamplingConfig

EvolOperation = Literal["add_constraints", "deepen", "concretize", "reasoning", "breadth"]
EVOL_OPERATIONS: tuple[EvolOperation, ...] = ("add_constraints", "deepen", "concretize", "reasoning", "breadth")


class EvolConfig(BaseModel):
    """Evol-Instruct (WizardLM): each kept row is rewritten once per round by one operation drawn
    per row; every surviving rewrite is answered and becomes the parent of the next round."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rounds: int = Field(0, ge=0, le=8, description="evolution rounds (0: off)")
    operations: list[EvolOperation] = Field(default_factory=lambda: list(EVOL_OPERATIONS), min_length=1)
    seed: int = 0
    # Parameters of the evol_elimination filter applied to every evolved row (after its answer).
    elimination: dict[str, Any] = Field(default_factory=dict)
    # Instruction filters evolved rows skip. ROUGE-L dedup at 0.7 would reject an in-depth rewrite
    # of its own parent by construction (10-20 words added to a short prompt keep ROUGE-L near
    # 0.7); elimination's no-information-gain rule (max_parent_rouge) is the paper's test for that.
    skip_filters: list[str] = Field(default_factory=lambda: ["rouge_l"])
    sampling: SamplingConfig = SamplingConfig(temperature=0.7, top_p=1.0, max_tokens=256)


class AugmentConfig(BaseModel):
    """Paraphrase and round-trip translation of kept rows (or of the seeds): the instruction is
    reworded, the answer is carried over from the source row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["kept", "seeds"] = "kept"
    paraphrases: int = Field(0, ge=0, le=8, description="paraphrases per source row (0: off)")
    pivots: list[str] = Field(default_factory=list, description="round-trip languages, e.g. [French, German]")
    language: str = Field("English", description="the language rows are in (the round trip returns to it)")
    sampling: SamplingConfig = SamplingConfig(temperature=0.7, top_p=1.0, max_tokens=256)
    translation_sampling: SamplingConfig = SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=320)

    @field_validator("pivots")
    @classmethod
    def _named(cls, pivots: list[str]) -> list[str]:
        if any(not p.strip() for p in pivots):
            raise ValueError("a pivot language name is empty")
        return [p.strip() for p in pivots]

    @property
    def enabled(self) -> bool:
        return self.paraphrases > 0 or bool(self.pivots)


class MultiTurnConfig(BaseModel):
    """Follow-up turns (user question + assistant answer) appended to kept instruction rows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    turns: int = Field(0, ge=0, le=6, description="follow-up exchanges per row (0: off)")
    share: float = Field(1.0, gt=0, le=1, description="share of kept rows that get follow-ups (seeded draw)")
    seed: int = 0
    question_sampling: SamplingConfig = SamplingConfig(temperature=0.8, top_p=1.0, max_tokens=128)
    answer_sampling: SamplingConfig = SamplingConfig(temperature=0.7, top_p=1.0, max_tokens=512)
