"""Classifier student recipes and the `finetune classifier` value report, on tiny data.

Fast tests replace the sentence encoder with a hashed bag of words (`fake_embed`) and keep only the
embedding_lr recipe, so the service logic (refusal, baselines, do-no-harm choice, CLI, report) runs
in seconds; tests/test_students_training.py trains the real recipes (slow).
"""

from __future__ import annotations

import hashlib
import json
from typing import get_args

import numpy as np
import pytest
import yaml

import finetune.recipe_embedding_lr as elr
from cli.choices import Recipe, SelectOn
from conf.domains import load_domain
from finetune.classifier_config import ClassifierConfig, EmbeddingLRConfig, RecipeName
from finetune.students import RECIPES, fit_student, load_student
from pipeline.classify_student import NotEnoughRows, finetune_classifier
from pipeline.labeled import generate_labeled
from rundir import RunDir
from tests.conftest import EXAMPLES
from tests.fakes import ScriptedTeacher

LABELS = ["positive", "negative", "neutral"]
LR = ClassifierConfig(recipe="embedding_lr")
WORDS = {
    "positive": "great love excellent happy superb",
    "negative": "broken awful refund terrible waste",
    "neutral": "average okay fine ordinary plain",
}


def fake_embed(model_dir, texts, batch_size=64):
    out = np.zeros((len(texts), 64))
    for i, text in enumerate(texts):
        for word in text.lower().split():
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture
def fast(monkeypatch):
    """embedding_lr on fake embeddings, and the only recipe the service trains."""
    monkeypatch.setattr(elr, "embed", fake_embed)
    for name in [n for n in RECIPES if n != "embedding_lr"]:
        monkeypatch.delitem(RECIPES, name)


def texts_of(label, n, offset=0):
    words = WORDS[label].split()
    return [f"{words[i % 5]} {words[(i + 2) % 5]} item number {i + offset}" for i in range(n)]


def rows_of(counts, offset=0, swap=None):
    """counts: {label: n}; swap: {true label: label written} makes mislabeled rows."""
    rows = []
    for label, n in counts.items():
        rows += [(t, (swap or {}).get(label, label)) for t in texts_of(label, n, offset)]
    return rows


def test_recipe_names_agree_everywhere():
    assert set(get_args(RecipeName)) == set(RECIPES) == {r.value for r in Recipe}
    assert set(RECIPES) <= set(ClassifierConfig.model_fields)
    assert {s.value for s in SelectOn} == {"test", "seeds"}
    with pytest.raises(ValueError, match="extra"):
        ClassifierConfig.model_validate({"setfit": {"iterations": 3}})
    with pytest.raises(ValueError, match="recipe"):
        ClassifierConfig.model_validate({"recipe": "svm"})
    # A run written before the recipes keeps its flat fine-tune settings: they move under `finetune`.
    old = ClassifierConfig.model_validate({"epochs": 3, "imbalance": "resample", "seed": 1, "student": None})
    assert (old.finetune.epochs, old.finetune.imbalance, old.seed) == (3, "resample", 1)


def test_embedding_lr_predicts_saves_and_loads(fast, tmp_path):
    train = rows_of({label: 6 for label in LABELS})
    student = fit_student(train, LABELS, "unused", LR)
    test = rows_of({label: 4 for label in LABELS}, offset=100)
    probabilities = student.predict_proba([t for t, _ in test])
    assert probabilities.shape == (12, 3) and np.allclose(probabilities.sum(axis=1), 1)
    assert student.predict([t for t, _ in test]) == [label for _, label in test]
    assert student.info["c_cross_validated"] is True and student.info["class_weight"] is None
    saved = student.save(tmp_path / "m")
    manifest = json.loads((saved / "student.json").read_text())
    assert manifest["recipe"] == "embedding_lr" and manifest["labels"] == LABELS
    assert manifest["settings"] == EmbeddingLRConfig().model_dump(mode="json")
    assert np.allclose(load_student(saved).predict_proba([t for t, _ in test]), probabilities)


def test_embedding_lr_matches_sklearn_binary_and_weights_imbalance(fast):
    from sklearn.linear_model import LogisticRegression

    train = rows_of({"positive": 12, "negative": 3})
    student = fit_student(train, LABELS, "unused", LR)
    assert student.info == {"c": 1.0, "c_cross_validated": False, "class_weight": "balanced"}
    x = fake_embed("", [t for t, _ in train])
    reference = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000).fit(x, [lab for _, lab in train])
    probe = texts_of("negative", 3, offset=50) + texts_of("positive", 2, offset=50)
    ours = student.predict_proba(probe)
    theirs = reference.predict_proba(fake_embed("", probe))  # columns: negative, positive
    assert np.allclose(ours[:, 0], theirs[:, 1]) and np.allclose(ours[:, 1], theirs[:, 0])
    assert (ours[:, 2] == 0).all()  # a label never seen in training gets no probability


def test_one_label_in_training_is_a_constant_model(fast):
    student = fit_student(rows_of({"neutral": 4}), LABELS, "unused", LR)
    assert student.predict(["great", "awful"]) == ["neutral", "neutral"]
    with pytest.raises(ValueError, match="outside"):
        fit_student([("x", "ugly")], LABELS, "unused", LR)


def write_kept(run, rows):
    """train.jsonl of the run's published version (through its stable name), as labeled rows."""
    lines = [{"id": f"r{i}", "kind": "classification", "text": t, "label": lab} for i, (t, lab) in enumerate(rows)]
    (run / "train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def make_run(tmp_path, generated, seeds):
    """A real run directory (scripted teacher), then its rows replaced by the ones a test needs."""
    loaded = load_domain(EXAMPLES / "reviews" / "domain.yaml", {"targets": {"per_label": 2}})
    generate_labeled(loaded, tmp_path / "run", teacher=ScriptedTeacher())
    run = tmp_path / "run"
    config = yaml.safe_load((run / "config.yaml").read_text())
    # No cross-validated C: on separable fake embeddings large C makes lbfgs crawl; same decisions.
    config["student"] = {"recipe": "embedding_lr", "embedding_lr": {"cv_min_per_label": 1000}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    # Through the stable names: the files of the published version the student reads.
    write_kept(run, generated)
    (run / "seeds.jsonl").write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in seeds))
    return run


def write_test(tmp_path, rows):
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    return path


def test_refuses_a_short_label_before_training(tmp_path):
    run = make_run(tmp_path, rows_of({"positive": 9, "negative": 9, "neutral": 3}), rows_of({"neutral": 2}))
    with pytest.raises(NotEnoughRows, match=r"'neutral' has 3 kept row\(s\), fewer than min_rows_per_label=8"):
        finetune_classifier(run, teacher_baseline=False)
    assert not (run / "classifier").exists()
    write_kept(run, [("great", "positive")])
    with pytest.raises(NotEnoughRows, match=r"cover 1 label\(s\) \['positive'\]"):
        finetune_classifier(run, overrides={"min_rows_per_label": 1})


SEEDS = {label: 6 for label in LABELS}
GOOD = {label: 10 for label in LABELS}
SWAP = {"positive": "negative", "negative": "neutral", "neutral": "positive"}


def test_value_report_student_wins_and_is_handed_over(fast, tmp_path):
    # One seed per label covers one of the five word pairs: seeds-only misses rows with the others.
    run = make_run(tmp_path, rows_of(GOOD, offset=200), rows_of({label: 1 for label in LABELS}, offset=300))
    test = write_test(tmp_path, rows_of({label: 10 for label in LABELS}, offset=400))
    metrics = finetune_classifier(run, test_file=test, teacher=ScriptedTeacher())
    assert metrics["student"]["train_rows"] == 30 + 3 and metrics["rows"]["generated"] == 30
    teachers = {f"teacher/{way}" for way in ("zero_shot", "few_shot", "zero_shot_calibrated", "few_shot_calibrated")}
    assert set(metrics["baselines"]) == {"seeds_only/embedding_lr", *teachers}
    assert metrics["baselines"]["teacher/few_shot_calibrated"]["shots"] == 3
    student = metrics["student"]["test"]
    assert student["accuracy"] == 1.0 and student["intervals"]["accuracy"]["low"] == 1.0
    assert set(student["per_label_recall"]) == set(LABELS)
    value = metrics["value"]
    assert value["best_seeds_only"] == "seeds_only/embedding_lr"
    for name, diff in value["comparisons"].items():
        own = metrics["baselines"][name]["test"]["accuracy"]
        assert diff["accuracy"]["estimate"] == pytest.approx(1.0 - own)
    selection = metrics["selection"]
    assert selection["on"] == "test" and selection["selected"] == "student"
    assert metrics["baselines"]["seeds_only/embedding_lr"]["test"]["accuracy"] < 1.0
    assert selection["paired_vs_best_seeds_only"]["accuracy"]["share_a_better"] >= 0.9
    assert "of paired resamples" in selection["reason"]
    handed = load_student(run / "classifier" / "model")
    assert handed.predict(texts_of("negative", 1, offset=900)) == ["negative"]
    assert json.loads((run / "classifier" / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    saved = yaml.safe_load((run / "classifier" / "config.yaml").read_text())
    assert saved["student"]["recipe"] == "embedding_lr" and saved["select_on"] == "test"


@pytest.mark.parametrize("select_on", ["test", "seeds"])
def test_do_no_harm_hands_over_seeds_only_when_generated_rows_hurt(fast, tmp_path, select_on):
    # Generated rows with every label rotated: the student learns the wrong mapping.
    run = make_run(tmp_path, rows_of({label: 40 for label in LABELS}, offset=200, swap=SWAP), rows_of(SEEDS, 300))
    test = write_test(tmp_path, rows_of({label: 5 for label in LABELS}, offset=400))
    metrics = finetune_classifier(run, test_file=test, teacher_baseline=False, select_on=select_on)
    selection = metrics["selection"]
    assert selection["on"] == select_on and selection["selected"] == "seeds_only/embedding_lr"
    assert "did not help" in selection["reason"] and "more seed examples" in selection["reason"]
    assert selection["accuracy"]["seeds_only/embedding_lr"] > selection["accuracy"]["student"]
    if select_on == "seeds":
        assert selection["folds"] == 3 and selection["rows"] == 18
    handed = load_student(run / "classifier" / "model")
    truth = rows_of({label: 5 for label in LABELS}, offset=400)
    assert handed.predict([t for t, _ in truth]) == [label for _, label in truth]
    assert metrics["student"]["test"]["accuracy"] < metrics["baselines"]["seeds_only/embedding_lr"]["test"]["accuracy"]


def test_seed_folds_leave_out_paraphrases_of_the_held_out_seeds(fast, tmp_path):
    # Generated rows that copy seeds verbatim: a fold's student must not train on the copies of
    # the seeds it is scored on, or the seeds-fold check rewards the leak.
    seeds = rows_of(SEEDS, 300)
    run = make_run(tmp_path, seeds + seeds, seeds)  # two copies of each seed
    metrics = finetune_classifier(run, teacher_baseline=False, select_on="seeds")
    selection = metrics["selection"]
    held_per_fold = len(seeds) // selection["folds"]
    assert selection["generated_rows_per_fold"] == [2 * (len(seeds) - held_per_fold)] * selection["folds"]


def test_without_held_out_drops_rows_nearest_a_held_out_seed():
    from pipeline.classify_value import without_held_out

    generated = [("a", "x"), ("b", "y"), ("c", "x")]
    assert without_held_out(generated, [0, 2, 1], [2]) == [("a", "x"), ("c", "x")]
    assert without_held_out(generated, [0, 2, 1], []) == generated


def test_a_lead_within_noise_hands_over_seeds_only(fast, tmp_path):
    # Student and seeds-only both perfect on the test rows: no resample shows the student better.
    run = make_run(tmp_path, rows_of(GOOD, offset=200), rows_of(SEEDS, offset=300))
    test = write_test(tmp_path, rows_of({label: 5 for label in LABELS}, offset=400))
    metrics = finetune_classifier(run, test_file=test, teacher_baseline=False)
    assert metrics["student"]["test"]["accuracy"] == 1.0
    assert metrics["baselines"]["seeds_only/embedding_lr"]["test"]["accuracy"] == 1.0
    selection = metrics["selection"]
    assert selection["selected"] == "seeds_only/embedding_lr" and "not surely better" in selection["reason"]
    assert selection["handover_confidence"] == 0.9


def test_select_on_test_needs_a_test_file(fast, tmp_path):
    from conf.yamlconf import ConfigError

    run = make_run(tmp_path, rows_of(GOOD), rows_of(SEEDS, 300))
    with pytest.raises(ConfigError, match="--select-on test needs --test"):
        finetune_classifier(run, select_on="test")


def test_cli_value_table_and_report(fast, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app
    from outputs.report import render_report

    run = make_run(tmp_path, rows_of(GOOD, offset=200), rows_of(SEEDS, offset=300))
    test = write_test(tmp_path, rows_of({label: 5 for label in LABELS}, offset=400))
    runner = CliRunner()
    bad = runner.invoke(app, ["finetune", "classifier", str(run), "--recipe", "svm"])
    assert bad.exit_code == 2 and "svm" in bad.output
    result = runner.invoke(
        app, ["finetune", "classifier", str(run), "--test", str(test), "--no-teacher-baseline", "--select-on", "seeds"]
    )
    assert result.exit_code == 0, result.output
    assert "student (embedding_lr)" in result.output and "seeds_only/embedding_lr" in result.output
    assert "handed over: student" in result.output and "held-out folds of the seeds" in result.output
    version = RunDir(run).read()
    kept, rejected = version.records("train.jsonl"), version.records("rejected.jsonl")
    html = render_report(kept, rejected, version.read_json("stats.json"), version.read_yaml("config.yaml"), run)
    assert "Classifier student: value against its baselines" in html
    assert "seeds_only/embedding_lr <b>(best seeds-only)</b>" in html
    assert "1.000 [1.000, 1.000]" in html and "Handed over: student" in html
    short = make_run(tmp_path / "short", rows_of({"positive": 9, "negative": 2, "neutral": 9}), rows_of(SEEDS))
    refused = runner.invoke(app, ["finetune", "classifier", str(short)])
    assert refused.exit_code == 2 and "'negative' has 2 kept row(s)" in refused.output


@pytest.mark.parametrize("on", ["seeds", "test"])
def test_a_student_chosen_on_seeds_carries_a_note_to_check_it_on_real_rows(on):
    from pipeline.classify_value import _decision, summary_table

    student, best = {"accuracy": 0.875, "macro_f1": 0.87}, {"accuracy": 0.786, "macro_f1": 0.78}
    paired = {"accuracy": {"share_a_better": 0.97}}
    selection = _decision(on, {}, student, "seeds_only/setfit", best, paired, 0.9)
    assert selection["selected"] == "student"
    assert ("--test FILE" in selection["note"]) == (on == "seeds")
    metrics = {"labels": [], "student": {"recipe": "setfit"}, "selection": {**selection, "handed_over": "m"}}
    assert f"note: {selection['note']}" in summary_table(metrics).splitlines()
