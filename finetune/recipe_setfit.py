"""`setfit`: the SetFit library — contrastive fine-tuning of the sentence encoder on pairs of
rows (same label / different label), then a logistic-regression head on its embeddings.

Settings are the library's few-shot recipe (batch 16, one epoch, 20 pair iterations per row, body
learning rate 2e-5) with one change: pairs grow as rows x iterations, so the number of contrastive
steps is capped (`max_steps`) to keep 2,000 rows within minutes on two CPU cores.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from finetune.classifier_config import SetFitConfig
from finetune.student_base import Example, Student, spread_columns


def _device() -> str:
    """The GPU when there is one (a GPU node trains there), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    for name in ("setfit", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)


class SetFitStudent(Student):
    name = "setfit"
    settings_type = SetFitConfig
    settings: SetFitConfig

    def _fit(self, train: list[Example], validation: list[Example], work_dir: Path | None) -> None:
        _quiet()
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
        from transformers import ProgressCallback

        s = self.settings
        index = {label: i for i, label in enumerate(self.labels)}
        present = sorted({index[label] for _, label in train})
        self.present = present
        self.model: Any = SetFitModel.from_pretrained(self.encoder, local_files_only=True, device=_device())
        if len(present) == 1:  # nothing to contrast; the head would refuse a single class
            self.info = {"steps": 0, "note": "one label in training: constant"}
            return
        # Trainer's max_steps is a step count, not a cap (it cycles the pairs), so cap it here.
        pairs = 2 * s.num_iterations * len(train)
        natural = -(-pairs // s.batch_size) * s.num_epochs
        steps = min(natural, s.max_steps) if s.max_steps > 0 else natural
        with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
            args = TrainingArguments(
                output_dir=scratch,
                batch_size=s.batch_size,
                num_epochs=s.num_epochs,
                num_iterations=s.num_iterations,
                max_steps=steps,
                body_learning_rate=s.body_learning_rate,
                head_learning_rate=s.head_learning_rate,
                max_length=s.max_length,
                seed=self.seed,
                report_to="none",
                save_strategy="no",
                eval_strategy="no",
                logging_strategy="no",
                logging_first_step=False,
                show_progress_bar=False,
            )
            data = Dataset.from_dict({"text": [t for t, _ in train], "label": [index[label] for _, label in train]})
            trainer = Trainer(model=self.model, args=args, train_dataset=data)
            # setfit does not pass show_progress_bar on to the inner trainer; its bar is CLI noise.
            trainer.st_trainer.remove_callback(ProgressCallback)
            trainer.st_trainer.args.dataloader_pin_memory = _device() == "cuda"  # on CPU pinning only warns
            trainer.train()
        self.info = {"steps": steps, "pairs_per_epoch": pairs}

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(self.present) == 1:
            out = np.zeros((len(texts), len(self.labels)))
            out[:, self.present[0]] = 1.0
            return out
        probabilities = np.asarray(self.model.predict_proba(texts, as_numpy=True, show_progress_bar=False))
        return spread_columns(probabilities, self.present, len(self.labels))

    def _save(self, directory: Path) -> None:
        self.model.save_pretrained(str(directory / "setfit"))
        (directory / "present.txt").write_text(" ".join(map(str, self.present)) + "\n")

    def _load(self, directory: Path) -> None:
        _quiet()
        from setfit import SetFitModel

        self.model = SetFitModel.from_pretrained(str(directory / "setfit"), local_files_only=True, device=_device())
        self.present = [int(i) for i in (directory / "present.txt").read_text().split()]
