"""What every classifier student recipe provides: fit, predict_proba/predict, save/load.

A saved student is a directory with `student.json` (recipe, labels, encoder, the recipe's resolved
settings) beside the recipe's own files, so `finetune.students.load_student(dir)` needs nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

Example = tuple[str, str]  # (text, label)
MANIFEST = "student.json"


class Student:
    """Base class: subclasses set `name`/`settings_type` and implement _fit, _predict_proba, _save, _load."""

    name: ClassVar[str]
    settings_type: ClassVar[type[BaseModel]]

    def __init__(self, labels: list[str], encoder: str, settings: BaseModel, seed: int = 0) -> None:
        if len(labels) < 2:
            raise ValueError(f"a classifier needs at least two labels, got {labels}")
        self.labels = list(labels)
        self.encoder = str(encoder)
        self.settings = settings
        self.seed = seed
        self.info: dict[str, Any] = {}  # what fitting decided (chosen C, steps, ...) for metrics.json

    @classmethod
    def fit(
        cls,
        train: Sequence[Example],
        labels: list[str],
        encoder: str | Path,
        settings: BaseModel,
        *,
        validation: Sequence[Example] | None = None,
        seed: int = 0,
        work_dir: str | Path | None = None,
    ) -> Student:
        if not train:
            raise ValueError("no training rows")
        unknown = sorted({label for _, label in train} - set(labels))
        if unknown:
            raise ValueError(f"training rows carry labels {unknown} outside {labels}")
        student = cls(labels, str(encoder), settings, seed)
        student._fit(list(train), list(validation or []), Path(work_dir) if work_dir else None)
        return student

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(labels)) probabilities, columns in `labels` order."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        return self._predict_proba(list(texts))

    def predict(self, texts: Sequence[str]) -> list[str]:
        probabilities = self.predict_proba(texts)
        return [self.labels[i] for i in probabilities.argmax(axis=1)]

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save(directory)
        manifest = {
            "recipe": self.name,
            "labels": self.labels,
            "encoder": self.encoder,
            "seed": self.seed,
            "settings": self.settings.model_dump(mode="json"),
            "fit": self.info,
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any], encoder: str | None = None) -> Student:
        student = cls(
            manifest["labels"],
            encoder or manifest["encoder"],
            cls.settings_type.model_validate(manifest["settings"]),
            manifest.get("seed", 0),
        )
        student.info = manifest.get("fit", {})
        student._load(directory)
        return student

    # Recipe hooks.
    def _fit(self, train: list[Example], validation: list[Example], work_dir: Path | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _save(self, directory: Path) -> None:
        raise NotImplementedError

    def _load(self, directory: Path) -> None:
        raise NotImplementedError


def spread_columns(probabilities: np.ndarray, present: Sequence[int], n_labels: int) -> np.ndarray:
    """Place a model's columns (for the labels it saw in training) into the full label order."""
    out = np.zeros((probabilities.shape[0], n_labels))
    out[:, list(present)] = probabilities
    return out
