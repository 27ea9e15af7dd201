"""Configuration of the classifier student: which recipe, and each recipe's own settings.

The recipes (finetune/students.py) are measured against each other by bench/student_recipes.py;
`recipe`'s default is that measurement's winner (README, "Labeled pairs and a classifier student").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RecipeName = Literal["embedding_lr", "setfit", "finetune"]
DEFAULT_RECIPE: RecipeName = "setfit"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EmbeddingLRConfig(_Frozen):
    """Normalized sentence embeddings of the (frozen) encoder + scikit-learn logistic regression."""

    c: float = Field(1.0, gt=0, description="inverse L2 strength when there are too few rows to cross-validate C")
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    cv_min_per_label: int = Field(5, ge=2, description="cross-validate C only when every label has this many rows")
    cv_folds: int = Field(5, ge=2)
    max_iter: int = Field(5000, ge=100)
    # Above this ratio of largest to smallest label, weight classes by inverse frequency.
    balance_above: float = Field(1.5, ge=1.0)
    batch_size: int = Field(64, ge=1)


class SetFitConfig(_Frozen):
    """SetFit: contrastive fine-tuning of the sentence encoder on pairs, then a logistic head."""

    batch_size: int = Field(16, ge=2)
    num_epochs: int = Field(1, ge=1)
    num_iterations: int = Field(20, ge=1, description="pairs generated per row (the SetFit paper's setting)")
    # Pairs grow with rows * num_iterations; the cap keeps 2,000 rows to minutes on 2 CPU cores.
    max_steps: int = Field(150, description="cap on contrastive steps (-1: no cap)")
    body_learning_rate: float = Field(2e-5, gt=0)
    head_learning_rate: float = Field(1e-2, gt=0)
    max_length: int = Field(128, ge=8)


class FinetuneConfig(_Frozen):
    """End-to-end transformers sequence-classification fine-tune (the original student)."""

    epochs: int = Field(12, ge=1)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs decide)")
    learning_rate: float = Field(1e-4, gt=0)
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(128, ge=8)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    patience: int = Field(3, ge=1, description="epochs without validation macro-F1 gain before stopping")
    # Imbalance handling: weight the loss by inverse class frequency, or oversample small classes.
    imbalance: Literal["class_weights", "resample", "none"] = "class_weights"


class ClassifierConfig(_Frozen):
    recipe: RecipeName = DEFAULT_RECIPE
    student: str | None = None  # local encoder dir; None = the embedded all-MiniLM-L6-v2
    # SetFit's authors evaluate from 8 examples per class up; below that, a label's recall on a
    # test file says more about which 3-7 texts were drawn than about the label.
    min_rows_per_label: int = Field(8, ge=1)
    # Each fold retrains the student, so the check costs (folds + 1) student trainings.
    seed_folds: int = Field(3, ge=2, description="folds of the seeds when --select-on seeds")
    # Do no harm: a lead of one seed on a few dozen is noise (snips: the student led by 1 of 70 on
    # seed folds and trailed by 5 points on the test file), so the student must be better in this
    # share of paired bootstrap resamples of the checking rows to be handed over.
    handover_confidence: float = Field(
        0.9, ge=0, le=1, description="share of paired resamples in which the student must beat seeds-only"
    )
    seed: int = 0
    embedding_lr: EmbeddingLRConfig = Field(default_factory=EmbeddingLRConfig)
    setfit: SetFitConfig = Field(default_factory=SetFitConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)

    @model_validator(mode="before")
    @classmethod
    def _flat_finetune_keys(cls, data: Any) -> Any:
        """Runs and domain files from before the recipes had the fine-tune settings at top level."""
        if not isinstance(data, dict):
            return data
        flat = {k: v for k, v in data.items() if k in FinetuneConfig.model_fields and k not in cls.model_fields}
        if not flat:
            return data
        rest = {k: v for k, v in data.items() if k not in flat}
        return {**rest, "finetune": {**flat, **(rest.get("finetune") or {})}}
