"""`finetune`: end-to-end fine-tune of a transformers encoder with a classification head.

Stratified train/validation split, class weights or oversampling against imbalance, and early
stopping on validation macro-F1 (accuracy flatters a model that ignores a rare class). Every
weight of the encoder moves, so it needs hundreds of rows; on a few dozen it overfits (issue 13).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finetune.classifier_config import FinetuneConfig
from finetune.metrics import classification_metrics
from finetune.student_base import Example, Student


def stratified_split(rows: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Per label, hold out `fraction` (at least one row when the label has two or more)."""
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    train, val = [], []
    for label in sorted(by_label):
        group = list(by_label[label])
        rng.shuffle(group)
        n_val = round(len(group) * fraction)
        n_val = min(max(n_val, 1 if len(group) >= 2 else 0), len(group) - 1) if group else 0
        val += group[:n_val]
        train += group[n_val:]
    return train, val


def _oversample(rows: list[Example], seed: int) -> list[Example]:
    counts = Counter(label for _, label in rows)
    top = max(counts.values())
    rng = random.Random(seed)
    out = list(rows)
    for label, count in counts.items():
        pool = [r for r in rows if r[1] == label]
        out += [rng.choice(pool) for _ in range(top - count)]
    return out


def train_classifier(
    train: Sequence[Example],
    validation: Sequence[Example],
    labels: list[str],
    base_model: str | Path,
    out_dir: str | Path,
    config: FinetuneConfig,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Train into OUT_DIR/model; returns the trainer's log history."""
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    if not train:
        raise ValueError("no training rows")
    set_seed(seed)
    out_dir = Path(out_dir)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_model), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    rows = _oversample(list(train), seed) if config.imbalance == "resample" else list(train)

    def encode(examples: Sequence[Example]) -> Dataset:
        data = tokenizer([t for t, _ in examples], truncation=True, max_length=config.max_length)
        data["labels"] = [label2id[label] for _, label in examples]
        return Dataset.from_dict(dict(data))

    weights = None
    if config.imbalance == "class_weights":
        counts = Counter(label for _, label in rows)
        weights = torch.tensor(
            [len(rows) / (len(labels) * counts[label]) if counts[label] else 0.0 for label in labels],
            dtype=torch.float32,
        )

    class WeightedTrainer(Trainer):
        def compute_loss(
            self,
            model: torch.nn.Module,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: torch.Tensor | int | None = None,
        ) -> Any:
            targets = inputs.pop("labels")
            outputs = model(**inputs)
            loss = torch.nn.functional.cross_entropy(
                outputs.logits, targets, weight=weights.to(outputs.logits.device) if weights is not None else None
            )
            return (loss, outputs) if return_outputs else loss

    def compute_metrics(prediction: Any) -> dict[str, float]:
        predicted = np.argmax(prediction.predictions, axis=-1)
        m = classification_metrics([labels[i] for i in prediction.label_ids], [labels[i] for i in predicted], labels)
        return {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"]}

    has_val = bool(validation)
    checkpoints = out_dir / "checkpoints"
    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        eval_strategy="epoch" if has_val else "no",
        save_strategy="epoch" if has_val else "no",
        save_total_limit=1,
        load_best_model_at_end=has_val,
        metric_for_best_model="macro_f1" if has_val else None,
        greater_is_better=True,
        logging_strategy="epoch",
        report_to=[],
        seed=seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    trainer = WeightedTrainer(
        model=model,
        args=args,
        train_dataset=encode(rows),
        eval_dataset=encode(validation) if has_val else None,
        processing_class=tokenizer,
        compute_metrics=compute_metrics if has_val else None,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience)] if has_val else [],
    )
    # The log goes to training_log.jsonl; printed per epoch it buries the value table.
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    model_dir = out_dir / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    shutil.rmtree(checkpoints, ignore_errors=True)
    history = [dict(entry) for entry in trainer.state.log_history]
    (out_dir / "training_log.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    return history


class FinetuneStudent(Student):
    name = "finetune"
    settings_type = FinetuneConfig
    settings: FinetuneConfig

    def _fit(self, train: list[Example], validation: list[Example], work_dir: Path | None) -> None:
        if not validation:  # early stopping needs rows the weights never saw
            train, validation = stratified_split(train, self.settings.validation_fraction, self.seed)
        self._scratch = tempfile.TemporaryDirectory(dir=work_dir)
        history = train_classifier(
            train, validation, self.labels, self.encoder, self._scratch.name, self.settings, self.seed
        )
        self._load(Path(self._scratch.name))
        steps = [h["step"] for h in history if "step" in h]
        self.info = {"train_rows": len(train), "validation_rows": len(validation), "steps": max(steps, default=0)}

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(texts), 32):
                batch = self.tokenizer(
                    texts[start : start + 32],
                    truncation=True,
                    max_length=self.settings.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                out.append(torch.softmax(self.model(**batch).logits, dim=-1).numpy())
        return np.concatenate(out).astype(np.float64)

    def _save(self, directory: Path) -> None:
        self.model.save_pretrained(str(directory / "model"))
        self.tokenizer.save_pretrained(str(directory / "model"))

    def _load(self, directory: Path) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(directory / "model"))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(directory / "model")).eval()
        order = [self.model.config.id2label[i] for i in range(len(self.labels))]
        if order != self.labels:
            raise ValueError(f"{directory}: model labels {order} differ from {self.labels}")
