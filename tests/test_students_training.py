"""The real recipes on the embedded MiniLM: setfit and embedding_lr train, predict, save and load
(tiny data, steps capped; slow because they load and fine-tune a real encoder on CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from finetune.classifier_config import ClassifierConfig
from finetune.students import fit_student, load_student
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reviews():
    domain = yaml.safe_load((EXAMPLES / "reviews" / "domain.yaml").read_text())
    labels = [label["name"] for label in domain["labels"]]
    rows = [(text, label["name"]) for label in domain["labels"] for text in label["seeds"]]
    return labels, rows


@pytest.fixture(scope="module")
def encoder():
    from generator.teachers.models import embedded_encoder_dir

    return str(embedded_encoder_dir())


PROBE = ["Broke after a day, total junk, I want my money back.", "Absolutely love it, works perfectly!"]


def check_round_trip(student, tmp_path, labels):
    probabilities = student.predict_proba(PROBE)
    assert probabilities.shape == (2, len(labels)) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    loaded = load_student(student.save(tmp_path / student.name))
    assert loaded.name == student.name and loaded.labels == labels
    assert np.allclose(loaded.predict_proba(PROBE), probabilities, atol=1e-5)
    return student.predict(PROBE)


def test_embedding_lr_on_real_embeddings(reviews, encoder, tmp_path):
    labels, rows = reviews
    student = fit_student(rows, labels, encoder, ClassifierConfig(recipe="embedding_lr"))
    assert student.info["c_cross_validated"] is True and student.info["c"] in ClassifierConfig().embedding_lr.c_grid
    assert check_round_trip(student, tmp_path, labels) == ["negative", "positive"]


def test_setfit_trains_the_encoder_body(reviews, encoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    labels, rows = reviews
    config = ClassifierConfig(recipe="setfit", setfit={"max_steps": 4, "num_iterations": 2})
    student = fit_student(rows, labels, encoder, config, work_dir=tmp_path)
    assert student.info == {"steps": 4, "pairs_per_epoch": 2 * 2 * len(rows)}
    check_round_trip(student, tmp_path, labels)
    base = SentenceTransformer(encoder, device="cpu").encode(PROBE)
    tuned = student.model.model_body.encode(PROBE)
    assert not np.allclose(base, tuned, atol=1e-4), "the contrastive phase changed no embedding"
    assert not list(tmp_path.glob("tmp*")), "setfit's scratch directory was left behind"


def test_finetune_recipe_still_trains(reviews, encoder, tmp_path):
    labels, rows = reviews
    config = ClassifierConfig(recipe="finetune", finetune={"max_steps": 2, "warmup_ratio": 0.0})
    student = fit_student(rows, labels, encoder, config)
    assert student.info["steps"] == 2 and student.info["validation_rows"] == 3  # 20% of 6 per label, stratified
    check_round_trip(student, tmp_path, labels)
