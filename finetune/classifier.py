"""Classifier student: fine-tune a transformers encoder on (text, label) rows.

Stratified train/validation split, class weights or oversampling against imbalance, and early
stopping on validation macro-F1 (accuracy flatters a model that ignores a rare class).
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.classifier_config import ClassifierConfig

Example = tuple[str, str]  # (text, label)


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


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str | None], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    pred = [p if p is not None else "<none>" for p in y_pred]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, pred, labels=labels, average=None, zero_division=0
    )
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, pred)) if y_true else 0.0,
        "macro_f1": float(sum(f1) / len(labels)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, pred, labels=labels).tolist() if y_true else [],
        },
    }


def _oversample(rows: list[Example], seed: int) -> list[Example]:
    counts = Counter(label for _, label in rows)
    top = max(counts.values())
    rng = random.Random(seed)
    out = list(rows)
    for label, count in counts.items():
        pool = [r for r in rows if r[1] == label]
        out += [rng.choice(pool) for _ in range(top - count)]
    return out


@dataclass
class TrainedClassifier:
    model_dir: Path
    labels: list[str]
    history: list[dict[str, Any]]
    validation: dict[str, Any] | None


def train_classifier(
    train: Sequence[Example],
    validation: Sequence[Example],
    labels: list[str],
    base_model: str | Path,
    out_dir: str | Path,
    config: ClassifierConfig,
) -> TrainedClassifier:
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    if not train:
        raise ValueError("no training rows")
    set_seed(config.seed)
    out_dir = Path(out_dir)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_model), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    rows = _oversample(list(train), config.seed) if config.imbalance == "resample" else list(train)

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
        seed=config.seed,
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
    trainer.train()
    model_dir = out_dir / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    shutil.rmtree(checkpoints, ignore_errors=True)
    val_metrics = evaluate_classifier(model_dir, validation, labels, config) if has_val else None
    history = [dict(entry) for entry in trainer.state.log_history]
    (out_dir / "training_log.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    return TrainedClassifier(model_dir, labels, history, val_metrics)


def predict(model_dir: str | Path, texts: Sequence[str], max_length: int = 128, batch_size: int = 32) -> list[str]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    out: list[str] = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            ids = model(**batch).logits.argmax(-1).tolist()
            out += [model.config.id2label[i] for i in ids]
    return out


def evaluate_classifier(
    model_dir: str | Path, rows: Sequence[Example], labels: list[str], config: ClassifierConfig
) -> dict[str, Any]:
    predicted = predict(model_dir, [t for t, _ in rows], max_length=config.max_length)
    return classification_metrics([label for _, label in rows], predicted, labels)
