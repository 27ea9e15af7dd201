"""The classifier student recipes: one module each, one line each in RECIPES.

    student = fit_student(rows, labels, encoder_dir, config)        # config.recipe picks the recipe
    student.predict(texts); student.predict_proba(texts); student.save(dir)
    load_student(dir).predict(texts)

A new recipe is a `Student` subclass in its own module, a line here, its name in
`classifier_config.RecipeName` and its settings class as a field of `ClassifierConfig`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from finetune.classifier import FinetuneStudent
from finetune.classifier_config import ClassifierConfig
from finetune.recipe_embedding_lr import EmbeddingLR
from finetune.recipe_setfit import SetFitStudent
from finetune.student_base import MANIFEST, Example, Student

RECIPES: dict[str, type[Student]] = {
    "embedding_lr": EmbeddingLR,
    "setfit": SetFitStudent,
    "finetune": FinetuneStudent,
}


def fit_student(
    train: Sequence[Example],
    labels: list[str],
    encoder: str | Path,
    config: ClassifierConfig,
    *,
    recipe: str | None = None,
    validation: Sequence[Example] | None = None,
    work_dir: str | Path | None = None,
) -> Student:
    """Train `recipe` (default: config.recipe) with its settings from `config`."""
    name = recipe or config.recipe
    cls = RECIPES[name]
    return cls.fit(
        train, labels, encoder, getattr(config, name), validation=validation, seed=config.seed, work_dir=work_dir
    )


def load_student(directory: str | Path, encoder: str | None = None) -> Student:
    """A saved student; `encoder` overrides the recorded encoder path (a model moved to another machine)."""
    directory = Path(directory)
    manifest = json.loads((directory / MANIFEST).read_text())
    return RECIPES[manifest["recipe"]].load(directory, manifest, encoder)
