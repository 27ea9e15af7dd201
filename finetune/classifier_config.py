"""Configuration of the classifier student (a transformers sequence-classification fine-tune)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ClassifierConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    student: str | None = None  # local HF encoder dir; None = the embedded all-MiniLM-L6-v2
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
    seed: int = 0
