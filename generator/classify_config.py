"""A labeled-data task: labels, seed examples, quotas, length range, diversity attributes.

This is the generation-side half of a classification domain file; conf/domains.py adds the
teacher, filters and student sections and loads it from YAML with located errors.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generator.teachers.base import SamplingConfig

# Label names are what the teacher must answer with under guided choice and what the student
# predicts: short, printable, no newlines or quotes that would blur the choice grammar.
LABEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _\-]{0,39}$")


class LabelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    seeds: list[str] = Field(default_factory=list)
    target: int | None = Field(None, ge=0, description="overrides targets.per_label for this label")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not LABEL_NAME.match(value) or value != value.strip():
            raise ValueError(
                f"label name {value!r} must be 1-40 characters of letters, digits, spaces, '_' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _non_blank(cls, value: list[str]) -> list[str]:
        if any(not s.strip() for s in value):
            raise ValueError("seed examples must not be empty")
        return [s.strip() for s in value]


class Targets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    per_label: int | None = Field(None, ge=1)
    total: int | None = Field(None, ge=1)
    balance: Literal["equal", "proportional"] = "equal"  # how `total` is split (proportional: to seeds)
    # A label that ends more than this share short of its quota fails the run (after publishing).
    max_shortfall: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _one_way(self) -> Targets:
        if (self.per_label is None) == (self.total is None):
            raise ValueError("give exactly one of targets.per_label or targets.total")
        return self


class TextLength(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_words: int = Field(3, ge=1)
    max_words: int = Field(150, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> TextLength:
        if self.min_words > self.max_words:
            raise ValueError("text_length.min_words exceeds max_words")
        return self


class LabeledGeneration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    texts_per_prompt: int = Field(3, ge=1, le=10)
    demos_per_prompt: int = Field(4, ge=0)
    max_prompts_per_label: int = Field(16, ge=1, description="per label and round")
    max_rounds: int = Field(8, ge=1, description="attempt budget: rounds before a shortfall is accepted")
    # Round by round, a round's last texts decode alone before its checks and the next round may
    # start (a 300-row run held 9-36 of 256 requests then, on 2-core vLLM). A round sent ahead,
    # sized by the yield expected of the prompts still out, decodes beside them; 0 waits.
    rounds_ahead: int = Field(1, ge=0, le=4, description="rounds sent before the verdicts of the one before")
    overgenerate: float = Field(2.0, ge=1.0)
    max_attempts: int = Field(3, ge=1, description="tries per request before quarantine")
    max_tokens_budget: int | None = Field(
        None, ge=1, description="tokens in+out after which no new round is sent (rounds out are judged)"
    )
    sampling: SamplingConfig = SamplingConfig(temperature=0.9, top_p=1.0, max_tokens=512)


VerificationMethod = Literal["vote", "calibrated", "likelihood", "confident_learning", "ensemble"]


class Verification(BaseModel):
    """Does a generated text carry its intended label? Every method's scores land in `meta`.

    - vote: the teacher classifies each text blind (guided choice, seed shots); majority of
      `samples` votes. Trusts the teacher as a classifier: a biased one rejects whole labels.
    - calibrated: the teacher's probability of each label (logprobs under guided choice) divided
      by its probability on content-free inputs (Zhao et al. 2021, "Calibrate Before Use").
    - likelihood: log p(text | "write a text of label y") for every y (SuperGen); the intended
      label must be the most likely by `margin` nats per token. Compares generators, not votes.
    - confident_learning: out-of-fold probabilities of an embedding classifier trained on seeds +
      candidates; cleanlab names the likely mislabeled rows.
    - ensemble: the mean of the `members`' label probabilities; the intended label must win.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # Measured on the held-out sets' dev files with the embedded teacher (bench/verification_methods.py):
    # vote trusts a biased classifier and starves labels; the ensemble kept every label and trained
    # the best student of the methods on sentiment and close to the best on the others.
    method: VerificationMethod = "ensemble"
    samples: int = Field(1, ge=1, description="vote: self-consistency votes per text")
    # One vote is decoded greedily; several votes need sampling to be independent at all.
    temperature: float = Field(0.7, ge=0)
    max_tokens: int = Field(16, ge=1)
    shots_per_label: int = Field(2, ge=0, description="seed examples shown as demonstration turns")
    prior: Literal["content_free", "batch"] = "content_free"  # calibrated: how the label prior is estimated
    content_free: tuple[str, ...] = Field(("N/A", "", "[MASK]"), min_length=1, description="calibrated: prior inputs")
    margin: float = Field(0.0, ge=0, description="likelihood: nats per token the intended label must lead by")
    folds: int = Field(5, ge=2, description="confident_learning: cross-validation folds")
    members: tuple[VerificationMethod, ...] = ("calibrated", "likelihood", "confident_learning")
    encoder: str | None = Field(None, description="confident_learning: sentence-transformers dir (default MiniLM)")

    @field_validator("members")
    @classmethod
    def _flat(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "ensemble" in value or not value:
            raise ValueError("ensemble members are one or more of vote, calibrated, likelihood, confident_learning")
        return value

    def sampling(self) -> SamplingConfig:
        temperature = 0.0 if self.samples == 1 else self.temperature
        return SamplingConfig(temperature=temperature, top_p=1.0, max_tokens=self.max_tokens)


class LabeledTask(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    task: str = Field(min_length=1, description="what the classifier decides, in one or two sentences")
    labels: list[LabelSpec] = Field(min_length=2)
    seeds_file: str | None = None  # JSONL/CSV of (text, label), relative to the domain file
    targets: Targets = Targets(per_label=20)
    text_length: TextLength = TextLength()
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    generation: LabeledGeneration = LabeledGeneration()
    verification: Verification = Verification()

    @field_validator("labels")
    @classmethod
    def _unique(cls, value: list[LabelSpec]) -> list[LabelSpec]:
        seen: dict[str, str] = {}
        for label in value:
            key = label.name.casefold()
            if key in seen:
                raise ValueError(f"label {label.name!r} is listed twice (as {seen[key]!r})")
            seen[key] = label.name
        return value

    @field_validator("attributes")
    @classmethod
    def _attribute_values(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = [k for k, v in value.items() if not v]
        if empty:
            raise ValueError(f"attribute(s) {empty} need at least one value")
        return value

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    def targets_for(self, seed_counts: dict[str, int]) -> dict[str, int]:
        """Per-label quota: explicit per label, else per_label, else `total` split by the policy."""
        names = self.label_names
        if self.targets.per_label is not None:
            base = {n: self.targets.per_label for n in names}
        else:
            total = self.targets.total or 0
            if self.targets.balance == "equal":
                weights = dict.fromkeys(names, 1.0)
            else:
                weights = {n: float(max(seed_counts.get(n, 0), 1)) for n in names}
            scale = total / sum(weights.values())
            base = {n: math.floor(weights[n] * scale) for n in names}
            # Largest remainders first, so the quotas add up to the total exactly.
            for n in sorted(names, key=lambda n: (weights[n] * scale - base[n], -names.index(n)), reverse=True):
                if sum(base.values()) >= total:
                    break
                base[n] += 1
        return {label.name: label.target if label.target is not None else base[label.name] for label in self.labels}
