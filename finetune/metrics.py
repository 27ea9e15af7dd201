"""Classification metrics with 95% bootstrap intervals, and the paired bootstrap of a difference.

A single accuracy on a 30-row test file moves by ±0.15 from luck alone, so every number the
student side reports comes with a percentile bootstrap interval (fixed seed: the same files give
the same interval), and "A beats B" is judged on the paired bootstrap, which resamples the *same*
rows for both models so that the rows both get right or both get wrong cancel out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NONE = "<none>"  # a prediction that is no label (a teacher that answered nothing usable)
RESAMPLES = 1000
LEVEL = 0.95


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str | None], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    pred = [p if p is not None else NONE for p in y_pred]
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


def _encode(y_true: Sequence[str], y_pred: Sequence[str | None], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {label: i for i, label in enumerate(labels)}
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    truth = np.array([index[t] for t in y_true], dtype=np.int64)
    pred = np.array([index.get(p, -1) if p is not None else -1 for p in y_pred], dtype=np.int64)
    return truth, pred


def _scores(truth: np.ndarray, pred: np.ndarray, n_labels: int, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy and macro-F1 of every resample at once; `rows` is (resamples, n) row indices."""
    t, p = truth[rows], pred[rows]
    accuracy = (t == p).mean(axis=1)
    f1 = np.zeros(rows.shape[0])
    for label in range(n_labels):
        tp = ((t == label) & (p == label)).sum(axis=1)
        fp = ((t != label) & (p == label)).sum(axis=1)
        fn = ((t == label) & (p != label)).sum(axis=1)
        denominator = 2 * tp + fp + fn
        # F1 of a label absent from truth and prediction is 0, as sklearn's zero_division=0 has it.
        f1 += np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)
    return {"accuracy": accuracy, "macro_f1": f1 / n_labels}


def _resamples(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _interval(estimate: float, draws: np.ndarray, level: float) -> dict[str, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}


def bootstrap_intervals(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: list[str],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap interval of accuracy and macro-F1 (rows resampled with replacement)."""
    if not y_true:
        raise ValueError("no rows to bootstrap")
    truth, pred = _encode(y_true, y_pred, labels)
    every = np.arange(len(truth))[None, :]
    point = _scores(truth, pred, len(labels), every)
    draws = _scores(truth, pred, len(labels), _resamples(len(truth), resamples, seed))
    return {name: _interval(point[name][0], draws[name], level) for name in ("accuracy", "macro_f1")}


def paired_bootstrap(
    y_true: Sequence[str],
    pred_a: Sequence[str | None],
    pred_b: Sequence[str | None],
    labels: list[str],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, dict[str, float]]:
    """Metric(A) - metric(B) on the same resampled rows: estimate, interval and P(A > B) over resamples."""
    if not y_true:
        raise ValueError("no rows to bootstrap")
    truth, a = _encode(y_true, pred_a, labels)
    _, b = _encode(y_true, pred_b, labels)
    every = np.arange(len(truth))[None, :]
    rows = _resamples(len(truth), resamples, seed)
    point_a, point_b = _scores(truth, a, len(labels), every), _scores(truth, b, len(labels), every)
    draws_a, draws_b = _scores(truth, a, len(labels), rows), _scores(truth, b, len(labels), rows)
    out = {}
    for name in ("accuracy", "macro_f1"):
        diff = draws_a[name] - draws_b[name]
        out[name] = {
            **_interval(point_a[name][0] - point_b[name][0], diff, level),
            "share_a_better": float((diff > 0).mean()),
        }
    return out


def evaluate_predictions(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: list[str], seed: int = 0
) -> dict[str, Any]:
    """classification_metrics plus the intervals; what every model gets on a test file."""
    metrics = classification_metrics(y_true, y_pred, labels)
    metrics["intervals"] = bootstrap_intervals(y_true, y_pred, labels, seed=seed)
    metrics["per_label_recall"] = {label: v["recall"] for label, v in metrics["per_class"].items()}
    predicted = [p if p is not None else NONE for p in y_pred]
    counts = {label: predicted.count(label) for label in {*predicted}}
    top, top_count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    # A model that answers one label for (nearly) everything scores its prior; name it as such.
    metrics["degenerate"] = top if len(predicted) >= 5 and top_count / len(predicted) >= 0.95 else None
    return metrics


def fmt_interval(entry: dict[str, float]) -> str:
    return f"{entry['estimate']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}]"
