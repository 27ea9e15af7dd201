"""Metrics with bootstrap intervals and the paired bootstrap, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from finetune.metrics import (
    _encode,
    _resamples,
    _scores,
    bootstrap_intervals,
    classification_metrics,
    evaluate_predictions,
    paired_bootstrap,
)

LABELS = ["a", "b"]


def test_point_metrics_by_hand():
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], LABELS)
    assert m["accuracy"] == 0.75
    # F1(a) = 2*1 / (2*1 + 0 + 1) = 2/3; F1(b) = 2*2 / (2*2 + 1 + 0) = 4/5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["per_class"]["a"]["recall"] == 0.5 and m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"]["matrix"] == [[1, 1], [0, 2]]


def test_interval_of_a_perfect_and_a_hopeless_model_is_a_point():
    truth = ["a", "b", "a", "b", "a"]
    perfect = bootstrap_intervals(truth, truth, LABELS)
    assert perfect["accuracy"] == {"estimate": 1.0, "low": 1.0, "high": 1.0}
    wrong = bootstrap_intervals(truth, ["b", "a", "b", "a", "b"], LABELS)
    assert wrong["accuracy"] == {"estimate": 0.0, "low": 0.0, "high": 0.0}
    assert wrong["macro_f1"]["high"] == 0.0


def test_two_rows_one_right_spans_zero_to_one():
    # Resampled accuracy is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4: the 2.5th percentile
    # is 0 and the 97.5th is 1 (with 1,000 resamples both tails hold ~250 draws).
    out = bootstrap_intervals(["a", "b"], ["a", "a"], LABELS)
    assert out["accuracy"] == {"estimate": 0.5, "low": 0.0, "high": 1.0}


def test_vectorized_resamples_equal_sklearn_on_each_resample():
    rng = np.random.default_rng(3)
    labels = ["x", "y", "z"]
    truth = list(rng.choice(labels, 40))
    pred = [*rng.choice(labels, 39), None]  # a row the model left unanswered counts as wrong
    t, p = _encode(truth, pred, labels)
    rows = _resamples(len(truth), 25, seed=7)
    fast = _scores(t, p, len(labels), rows)
    for i, idx in enumerate(rows):
        slow = classification_metrics([truth[j] for j in idx], [pred[j] for j in idx], labels)
        assert fast["accuracy"][i] == pytest.approx(slow["accuracy"])
        assert fast["macro_f1"][i] == pytest.approx(slow["macro_f1"])


def test_interval_contains_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    truth = list(rng.choice(LABELS, 60))
    pred = [t if rng.random() < 0.7 else ("b" if t == "a" else "a") for t in truth]
    one, two = bootstrap_intervals(truth, pred, LABELS), bootstrap_intervals(truth, pred, LABELS)
    assert one == two
    for metric in ("accuracy", "macro_f1"):
        assert one[metric]["low"] < one[metric]["estimate"] < one[metric]["high"]
    assert bootstrap_intervals(truth, pred, LABELS, seed=1) != one


def test_paired_bootstrap_by_hand():
    truth = ["a", "b", "a", "b"]
    same = paired_bootstrap(truth, ["a", "a", "a", "a"], ["a", "a", "a", "a"], LABELS)
    assert same["accuracy"] == {"estimate": 0.0, "low": 0.0, "high": 0.0, "share_a_better": 0.0}
    better = paired_bootstrap(truth, truth, ["b", "a", "b", "a"], LABELS)
    assert better["accuracy"] == {"estimate": 1.0, "low": 1.0, "high": 1.0, "share_a_better": 1.0}
    # A gets rows 0-2 right, B rows 0-1: the difference is 1/4, and it is never negative in any resample.
    some = paired_bootstrap(truth, ["a", "b", "a", "a"], ["a", "b", "b", "a"], LABELS)
    assert some["accuracy"]["estimate"] == 0.25 and some["accuracy"]["low"] == 0.0
    assert 0.5 < some["accuracy"]["share_a_better"] < 0.8  # P(row 2 drawn at least once) = 1 - (3/4)^4 = 0.68


def test_paired_interval_is_narrower_than_the_unpaired_one():
    rng = np.random.default_rng(1)
    truth = list(rng.choice(LABELS, 200))
    base = [t if rng.random() < 0.7 else ("b" if t == "a" else "a") for t in truth]
    improved = [t if rng.random() < 0.3 else b for t, b in zip(truth, base, strict=True)]
    diff = paired_bootstrap(truth, improved, base, LABELS)["accuracy"]
    a = bootstrap_intervals(truth, improved, LABELS)["accuracy"]
    b = bootstrap_intervals(truth, base, LABELS)["accuracy"]
    assert diff["high"] - diff["low"] < (a["high"] - a["low"]) + (b["high"] - b["low"])
    assert diff["estimate"] == pytest.approx(a["estimate"] - b["estimate"])


def test_evaluate_names_a_degenerate_model_and_keeps_per_label_recall():
    truth = ["a", "b"] * 10
    m = evaluate_predictions(truth, ["a"] * 20, LABELS)
    assert m["degenerate"] == "a" and m["per_label_recall"] == {"a": 1.0, "b": 0.0}
    assert evaluate_predictions(truth, truth, LABELS)["degenerate"] is None
    with pytest.raises(ValueError, match="no rows"):
        bootstrap_intervals([], [], LABELS)
