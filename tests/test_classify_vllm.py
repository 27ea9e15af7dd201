"""Labeled pairs and the classifier student with the real vLLM CPU engine and real training."""

from __future__ import annotations

import json
import subprocess

import pytest

from conf.domains import load_domain
from pipeline.classify_student import finetune_classifier
from pipeline.labeled import generate_labeled
from tests.conftest import EXAMPLES, cli, cli_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
REVIEWS = EXAMPLES / "reviews" / "domain.yaml"
TEST_FILE = EXAMPLES / "reviews" / "test.jsonl"
LABELS = {"positive", "negative", "neutral"}


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def labeled_run(vllm_teacher, tmp_path_factory):
    """Generation of every label (verification off: the 135M teacher cannot verify 'neutral')."""
    out = tmp_path_factory.mktemp("labeled") / "run"
    loaded = load_domain(REVIEWS, {"targets": {"per_label": 3}, "verification": {"enabled": False}})
    return generate_labeled(loaded, out, teacher=vllm_teacher), out


def test_every_label_is_generated_and_quotas_add_up(labeled_run):
    summary, out = labeled_run
    kept = rows(out / "train.jsonl")
    assert {r["label"] for r in kept} == LABELS
    assert all(r["label"] in LABELS and r["text"].strip() for r in kept)
    for label, entry in summary.stats["labels"].items():
        assert entry["kept"] == sum(r["label"] == label for r in kept) <= entry["target"] == 3
        assert entry["generated"] == entry["kept"] + sum(entry["rejected"].values())
        assert entry["shortfall"] == entry["target"] - entry["kept"]
    funnel = summary.funnel
    assert (
        funnel["kept"] + funnel["rejected_total"]
        == funnel["candidates"]
        == len(kept) + len(rows(out / "rejected.jsonl"))
    )


def test_default_verification_with_the_real_engine(vllm_teacher, tmp_path):
    """The default method (ensemble of calibrated, likelihood and confident learning) end to end."""
    overrides = {"targets": {"per_label": 2, "max_shortfall": 1.0}, "generation": {"max_rounds": 2}}
    summary = generate_labeled(load_domain(REVIEWS, overrides), tmp_path / "run", teacher=vllm_teacher)
    kept, rejected = rows(tmp_path / "run" / "train.jsonl"), rows(tmp_path / "run" / "rejected.jsonl")
    assert kept, "verification kept nothing at all"
    for row in kept:
        info = row["meta"]["verification"]
        assert info["method"] == "ensemble" and info["predicted"] == row["label"]
        assert set(info["members"]) == {"calibrated", "likelihood", "confident_learning"}
        assert sum(info["probs"].values()) == pytest.approx(1.0, abs=1e-4)
    mismatches = [r for r in rejected if r["reason"] == "label_mismatch"]
    assert all(r["detail"]["predicted"] in LABELS and r["detail"]["predicted"] != r["label"] for r in mismatches)
    stages = summary.stats["teacher"]["stages"]
    verified = len(kept) + len(mismatches)
    assert stages["verify_likelihood"]["requests"] >= 3 * verified  # one scoring per label and text
    assert stages["verify_calibrated"]["requests"] >= verified + 3  # + the three content-free inputs
    prior = summary.stats["verification"]["calibration_prior"]
    assert set(prior) == LABELS and sum(prior.values()) == pytest.approx(1.0, abs=1e-4)
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"]


def test_classifier_student_trains_and_reports_baselines(labeled_run, vllm_teacher, tmp_path):
    import torch
    from transformers import AutoModel

    from finetune.students import RECIPES
    from generator.teachers.models import embedded_encoder_dir

    _, run_dir = labeled_run
    metrics = finetune_classifier(
        run_dir,
        test_file=TEST_FILE,
        out_dir=tmp_path / "clf",
        overrides={
            "recipe": "finetune",
            "min_rows_per_label": 1,  # 3 rows per label at most: a smoke run, not a useful student
            "finetune": {"max_steps": 6, "warmup_ratio": 0.0, "learning_rate": 3e-4},
            "setfit": {"max_steps": 4, "num_iterations": 2},
        },
        teacher=vllm_teacher,
    )
    saved = json.loads((tmp_path / "clf" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    ways = ("zero_shot", "few_shot", "zero_shot_calibrated", "few_shot_calibrated")
    expected = {f"seeds_only/{r}" for r in RECIPES} | {f"teacher/{way}" for way in ways}
    assert set(saved["baselines"]) == expected == set(saved["value"]["comparisons"])
    for entry in [saved["student"], *saved["baselines"].values()]:
        m = entry["test"]
        assert set(m) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix", "n", "intervals", "per_label_recall"}
        assert set(m["per_label_recall"]) == LABELS
        assert m["intervals"]["accuracy"]["low"] <= m["accuracy"] <= m["intervals"]["accuracy"]["high"]
        assert sum(map(sum, m["confusion_matrix"]["matrix"])) == m["n"] == 30
    for diff in saved["value"]["comparisons"].values():
        assert diff["accuracy"]["low"] <= diff["accuracy"]["estimate"] <= diff["accuracy"]["high"]
    assert saved["baselines"]["teacher/few_shot"]["shots"] == 6
    assert saved["selection"]["on"] == "test" and saved["selection"]["selected"] in {"student", *expected}
    assert (tmp_path / "clf" / "model" / "student.json").is_file()
    base = AutoModel.from_pretrained(str(embedded_encoder_dir()))
    tuned = AutoModel.from_pretrained(str(tmp_path / "clf" / "student" / "model"))
    name, weight = next(iter(base.state_dict().items()))
    changed = [not torch.equal(w, tuned.state_dict()[k]) for k, w in base.state_dict().items() if "encoder" in k]
    assert any(changed), f"no encoder weight changed (first: {name}, {weight.shape})"


def test_cli_label_and_finetune_classifier(labeled_run, tmp_path):
    texts = tmp_path / "unlabeled.jsonl"
    texts.write_text(
        "".join(
            json.dumps({"text": r}) + "\n"
            for r in [
                "Terrible, it broke on the first day.",
                "I love this lamp, great light.",
                "It is a kettle. It boils water.",
            ]
        )
    )
    domain = tmp_path / "domain.yaml"
    domain.write_text(REVIEWS.read_text() + "teacher:\n  enforce_eager: true\n")
    proc = subprocess.run(
        cli(
            "label",
            "--input",
            str(texts),
            "--domain",
            str(domain),
            "--out",
            str(tmp_path / "lab"),
            "--samples",
            "1",
            "--min-confidence",
            "0.5",
        ),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The engine's output went to the run's log, not the console.
    assert "WARNING" not in proc.stderr and "Loading safetensors" not in proc.stderr, proc.stderr[-3000:]
    assert "WARNING" in (tmp_path / "lab" / "logs" / "engine.log").read_text()
    labeled = rows(tmp_path / "lab" / "train.jsonl") + rows(tmp_path / "lab" / "rejected.jsonl")
    assert len(labeled) == 3 and all(r["label"] in LABELS for r in labeled if "stage" not in r)

    _, run_dir = labeled_run
    proc = subprocess.run(
        cli(
            "finetune",
            "classifier",
            str(run_dir),
            "--test",
            str(TEST_FILE),
            "--out",
            str(tmp_path / "clf"),
            "--max-steps",
            "2",
            "--min-rows-per-label",
            "1",
            "--no-teacher-baseline",
        ),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "seeds_only/setfit" in proc.stdout and "handed over:" in proc.stdout
    assert (tmp_path / "clf" / "metrics.json").is_file() and (tmp_path / "clf" / "model" / "student.json").is_file()
    bad = subprocess.run(cli("finetune", "classifier", str(tmp_path)), env=cli_env(), capture_output=True, text=True)
    assert bad.returncode == 2 and "not a run directory" in bad.stderr
