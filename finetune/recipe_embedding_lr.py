"""`embedding_lr`: frozen sentence embeddings (unit length) + scikit-learn logistic regression.

The encoder is not trained, so a few hundred rows cannot overfit it; the only capacity knob is
the L2 strength C, cross-validated (log-loss) when every label has enough rows for folds, else
scikit-learn's default C=1. Class weights switch on when the labels are imbalanced. The model is
stored as plain arrays (npz), not a pickle.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from finetune.classifier_config import EmbeddingLRConfig
from finetune.student_base import Example, Student

_ENCODERS: dict[str, Any] = {}
_VECTORS: dict[tuple[str, str], np.ndarray] = {}  # (encoder, text) -> unit vector, for this process
_CACHE_LIMIT = 200_000
_LOCK = threading.Lock()


def _encoder(model_dir: str) -> Any:
    with _LOCK:
        if model_dir not in _ENCODERS:
            if not os.path.isdir(model_dir):
                raise FileNotFoundError(f"encoder model directory {model_dir!r} does not exist")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _ENCODERS[model_dir] = SentenceTransformer(model_dir, local_files_only=True)  # GPU if any
        return _ENCODERS[model_dir]


def embed(model_dir: str, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), dim) unit vectors; a text embedded once per process is not embedded again
    (the benchmark and the seeds cross-validation embed the same rows for many models)."""
    missing = list(dict.fromkeys(t for t in texts if (model_dir, t) not in _VECTORS))
    if missing:
        vectors = _encoder(model_dir).encode(
            missing, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        if len(_VECTORS) + len(missing) > _CACHE_LIMIT:
            _VECTORS.clear()
        _VECTORS.update({(model_dir, t): v for t, v in zip(missing, vectors, strict=True)})
    return np.stack([_VECTORS[(model_dir, t)] for t in texts]).astype(np.float64)


class EmbeddingLR(Student):
    name = "embedding_lr"
    settings_type = EmbeddingLRConfig
    settings: EmbeddingLRConfig

    def _fit(self, train: list[Example], validation: list[Example], work_dir: Path | None) -> None:
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold

        s = self.settings
        x = embed(self.encoder, [t for t, _ in train], s.batch_size)
        index = {label: i for i, label in enumerate(self.labels)}
        y = np.array([index[label] for _, label in train])
        counts = Counter(y.tolist())
        self.present = sorted(counts)
        if len(self.present) == 1:  # one label seen: nothing to separate (a fold of a tiny seed set)
            self.coef, self.intercept = np.zeros((1, x.shape[1])), np.zeros(1)
            self.info = {"c": None, "class_weight": None, "note": "one label in training: constant"}
            return
        balanced = max(counts.values()) / min(counts.values()) > s.balance_above
        weight = "balanced" if balanced else None
        smallest = min(counts.values())
        if smallest >= s.cv_min_per_label:
            folds = StratifiedKFold(min(s.cv_folds, smallest), shuffle=True, random_state=self.seed)
            with warnings.catch_warnings():  # scikit-learn 1.9 announces 1.10 defaults we do not rely on
                warnings.simplefilter("ignore", FutureWarning)
                model: Any = LogisticRegressionCV(
                    Cs=list(s.c_grid), cv=folds, scoring="neg_log_loss", class_weight=weight, max_iter=s.max_iter
                ).fit(x, y)
            c = float(np.atleast_1d(model.C_)[0])
        else:
            c = s.c
            model = LogisticRegression(C=c, class_weight=weight, max_iter=s.max_iter).fit(x, y)
        coef, intercept = model.coef_, model.intercept_
        if len(self.present) == 2:  # binary sklearn keeps one row; softmax over (-z/2, z/2) is the same sigmoid
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        self.coef, self.intercept = coef, intercept
        self.info = {"c": c, "c_cross_validated": smallest >= s.cv_min_per_label, "class_weight": weight}

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        z = embed(self.encoder, texts, self.settings.batch_size) @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        out = np.zeros((len(texts), len(self.labels)))
        out[:, self.present] = p
        return out

    def _save(self, directory: Path) -> None:
        np.savez(directory / "logistic.npz", coef=self.coef, intercept=self.intercept, present=np.array(self.present))

    def _load(self, directory: Path) -> None:
        data = np.load(directory / "logistic.npz")
        self.coef, self.intercept, self.present = data["coef"], data["intercept"], data["present"].tolist()
