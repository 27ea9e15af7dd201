"""Labeled pairs with the scripted teacher: domain validation, quotas, verification, accounting."""

from __future__ import annotations

import json

import pytest

from conf.domains import load_domain
from conf.yamlconf import ConfigError
from generator.classify_config import LabeledTask, Targets
from pipeline.label import label_texts
from pipeline.labeled import QuotaShortfall, generate_labeled
from tests.conftest import EXAMPLES
from tests.fakes import ScriptedTeacher

REVIEWS = EXAMPLES / "reviews" / "domain.yaml"


def write_domain(tmp_path, text: str):
    path = tmp_path / "domain.yaml"
    path.write_text(text)
    return path


BASE = """kind: classify
name: t
task: Classify things.
labels:
  - name: good
    seeds: [a fine example here]
  - name: bad
    seeds: [a poor example here]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE.replace("name: good", "name: 'good\\nlabel'"), ":5: labels.0.name: Value error, label name"),
        (BASE.replace("name: bad", "name: Good"), ":5: labels: Value error, label 'Good' is listed twice"),
        ("kind: classify\nname: t\ntask: x\nlabels: []\n", ":4: labels: List should have at least 2 items"),
        (BASE + "colour: red\n", ":9: colour: Extra inputs are not permitted"),
        (BASE + "targets: {per_label: 3, total: 9}\n", ":9: targets: Value error, give exactly one"),
        (BASE.replace("    seeds: [a poor example here]\n", ""), ":7: labels.1.seeds: label 'bad' has no seed"),
        (BASE + "attributes: {topic: []}\n", ":9: attributes: Value error"),
        (BASE.replace("task: Classify things.", "task: ''"), ":3: task: String should have at least 1 character"),
    ],
)
def test_domain_errors_name_file_line_and_field(tmp_path, text, expected):
    path = write_domain(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_domain(path)
    assert f"{path}{expected}" in str(info.value)


def test_seeds_file_rows_are_validated_against_the_labels(tmp_path):
    (tmp_path / "seeds.jsonl").write_text('{"text": "fine", "label": "good"}\n{"text": "x", "label": "ugly"}\n')
    path = write_domain(tmp_path, BASE + "seeds_file: seeds.jsonl\n")
    with pytest.raises(ConfigError, match=r"seeds.jsonl:2: field 'label': unknown label 'ugly'"):
        load_domain(path)
    (tmp_path / "seeds.jsonl").write_text('{"text": "another fine one", "label": "good"}\n')
    assert load_domain(path).seeds["good"] == ["a fine example here", "another fine one"]


def test_targets_per_label_total_and_balance():
    labels = [{"name": "a", "seeds": ["x"]}, {"name": "b", "seeds": ["y"]}, {"name": "c", "seeds": ["z"], "target": 1}]
    task = LabeledTask(name="t", task="x", labels=labels, targets=Targets(per_label=4))
    assert task.targets_for({}) == {"a": 4, "b": 4, "c": 1}
    equal = task.model_copy(update={"targets": Targets(total=10)})
    assert equal.targets_for({}) == {"a": 4, "b": 3, "c": 1}  # c's explicit target wins
    plain = LabeledTask(name="t", task="x", labels=labels[:2], targets=Targets(total=9, balance="proportional"))
    assert plain.targets_for({"a": 2, "b": 1}) == {"a": 6, "b": 3}
    assert sum(plain.model_copy(update={"targets": Targets(total=7)}).targets_for({}).values()) == 7


def run(tmp_path, teacher, **overrides):
    """The reviews domain with blind voting (whose mislabels the scripted teacher can plant)."""
    overrides["verification"] = {"method": "vote", **overrides.get("verification", {})}
    loaded = load_domain(REVIEWS, {"targets": {"per_label": 4}, **overrides})
    return generate_labeled(loaded, tmp_path / "run", teacher=teacher)


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_quotas_are_met_exactly_and_accounting_holds(tmp_path):
    summary = run(tmp_path, ScriptedTeacher())
    kept = rows(tmp_path / "run" / "train.jsonl")
    assert sorted({r["label"] for r in kept}) == ["negative", "neutral", "positive"]
    assert all(sum(r["label"] == label for r in kept) == 4 for label in ("negative", "neutral", "positive"))
    balance = summary.stats["labels"]
    for entry in balance.values():
        assert entry["kept"] == 4 and entry["shortfall"] == 0
        assert entry["generated"] == entry["kept"] + sum(entry["rejected"].values())
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"]
    for row in kept:
        assert row["messages"] == [
            {"role": "user", "content": row["text"]},
            {"role": "assistant", "content": row["label"]},
        ]
        assert row["meta"]["verification"]["predicted"] == row["label"]
        assert row["meta"]["text_request"]["template"]["name"] == "labeled_texts"
    seeds = rows(tmp_path / "run" / "seeds.jsonl")
    assert len(seeds) == 18 and {s["label"] for s in seeds} == {"positive", "negative", "neutral"}


def test_blind_relabel_rejects_mismatches(tmp_path):
    summary = run(tmp_path, ScriptedTeacher(mislabel_rate=0.4))
    rejected = rows(tmp_path / "run" / "rejected.jsonl")
    mismatches = [r for r in rejected if r["reason"] == "label_mismatch"]
    assert mismatches and all(r["detail"]["predicted"] != r["label"] for r in mismatches)
    assert all(r["stage"] == "verification" for r in mismatches)
    for row in rows(tmp_path / "run" / "train.jsonl"):
        assert row["meta"]["verification"]["predicted"] == row["label"]
    total = sum(e["rejected"].get("verification/label_mismatch", 0) for e in summary.stats["labels"].values())
    assert total == len(mismatches)


def test_self_consistency_records_confidence(tmp_path):
    run(tmp_path, ScriptedTeacher(mislabel_rate=0.3), verification={"samples": 3})
    for row in rows(tmp_path / "run" / "train.jsonl"):
        info = row["meta"]["verification"]
        assert sum(info["votes"].values()) <= 3 and info["confidence"] in (1 / 3, 2 / 3, 1.0)
        assert info["votes"][row["label"]] == round(info["confidence"] * 3)


def test_budget_exhaustion_publishes_then_fails_naming_each_short_label(tmp_path):
    with pytest.raises(QuotaShortfall) as caught:
        run(tmp_path, ScriptedTeacher(mislabel_rate=0.9), generation={"max_rounds": 1})
    summary = caught.value.summary
    assert summary.stats["run"]["target_met"] is False
    assert summary.stats["run"]["shortfall"] and all(v > 0 for v in summary.stats["run"]["shortfall"].values())
    # Nothing is lost: the version is published and its rows are the summary's.
    kept = rows(tmp_path / "run" / "train.jsonl")
    assert len(kept) == summary.funnel["kept"]
    short = {lag.label for lag in caught.value.lags}
    assert short == {label for label, n in summary.stats["run"]["shortfall"].items() if n > 0.5 * 4}
    assert all(f"{label!r}" in caught.value.explain() for label in short)


def test_a_token_budget_stops_new_rounds_and_judges_every_round_already_out(tmp_path):
    generation = {"max_prompts_per_label": 1, "max_rounds": 8}
    targets = {"per_label": 4, "max_shortfall": 1.0}  # short labels are reported, not failed
    full = run(tmp_path / "full", ScriptedTeacher(), generation=generation, targets=targets)
    assert full.stats["run"]["stopped"] == "target"
    spent = full.stats["teacher"]["prompt_tokens"] + full.stats["teacher"]["completion_tokens"]
    budget = {**generation, "max_tokens_budget": spent // 3}
    summary = run(tmp_path / "short", ScriptedTeacher(), generation=budget, targets=targets)
    assert summary.stats["run"]["stopped"] == "token_budget"
    assert summary.stats["run"]["rounds"] < full.stats["run"]["rounds"]
    # every round sent was judged: its candidates are published, kept or rejected, and counted
    published = rows(tmp_path / "short" / "run" / "train.jsonl") + rows(tmp_path / "short" / "run" / "rejected.jsonl")
    assert {r["meta"]["round"] for r in published} == set(range(summary.stats["run"]["rounds"]))
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"] == len(published)


def test_dedup_applies_within_and_across_labels(tmp_path):
    summary = run(tmp_path, ScriptedTeacher())
    reasons = summary.funnel["rejected"].get("text_filter", {})
    kept_texts = [r["text"].lower() for r in rows(tmp_path / "run" / "train.jsonl")]
    assert len(set(kept_texts)) == len(kept_texts)
    assert set(reasons) <= {"exact_duplicate", "rouge_l_near_duplicate", "too_short", "too_long"}


def test_auto_labeling_keeps_confident_rows(tmp_path):
    texts = tmp_path / "unlabeled.jsonl"
    texts.write_text(
        "".join(
            json.dumps({"text": f"Explain tides: a {lab} one, take {i}"}) + "\n"
            for i, lab in enumerate(["positive", "negative", "neutral", "positive"])
        )
    )
    loaded = load_domain(REVIEWS)
    summary = label_texts(
        loaded, texts, tmp_path / "labeled", teacher=ScriptedTeacher(mislabel_rate=0.5), samples=3, min_confidence=0.9
    )
    kept, rejected = rows(tmp_path / "labeled" / "train.jsonl"), rows(tmp_path / "labeled" / "rejected.jsonl")
    assert len(kept) + len(rejected) == 4 == summary.funnel["candidates"]
    assert all(r["meta"]["labeling"]["confidence"] >= 0.9 for r in kept)
    assert all(r["reason"] == "low_confidence" and r["detail"]["confidence"] < 0.9 for r in rejected)
    assert all(r["meta"]["source"]["line"] in (1, 2, 3, 4) for r in kept + rejected)


def test_label_input_errors_are_located(tmp_path):
    bad = tmp_path / "in.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "typo"}\n')
    from generator.seeds import SeedFileError

    with pytest.raises(SeedFileError, match=r"in.jsonl:2: field 'text'"):
        label_texts(load_domain(REVIEWS), bad, tmp_path / "out", teacher=ScriptedTeacher())
    assert not (tmp_path / "out").exists()


def test_blind_classifier_sees_seed_shots_but_never_the_intended_label(tmp_path):
    teacher = ScriptedTeacher()
    run(tmp_path, teacher, verification={"shots_per_label": 2})
    loaded = load_domain(REVIEWS)
    seed_texts = {text for texts in loaded.seeds.values() for text in texts}
    verify = [r for r in teacher.calls if r.choices]
    assert verify
    for request in verify:
        turns = request.messages[1:-1]  # system first, the text to classify last
        assert [t["role"] for t in turns] == ["user", "assistant"] * 6
        assert {t["content"] for t in turns[1::2]} == {"positive", "negative", "neutral"}
        assert all(t["content"].split("Text:", 1)[1].split("\n")[0].strip() in seed_texts for t in turns[::2])
        final = request.messages[-1]["content"]
        assert all(label not in final.split("Text:", 1)[1] or f"a {label} one" in final for label in request.choices)
    # Auto-labeling uses the same prompt (same shots), and its run can train a seeds-only baseline.
    texts = tmp_path / "in.txt"
    texts.write_text("Explain tides: a positive one\n")
    teacher = ScriptedTeacher()
    label_texts(loaded, texts, tmp_path / "lab", teacher=teacher, samples=1)
    assert len([m for m in teacher.calls[0].messages if m["role"] == "assistant"]) == 6
    assert len(rows(tmp_path / "lab" / "seeds.jsonl")) == 18


def test_dedup_rejects_exact_and_near_duplicates_across_labels(tmp_path):
    from generator.teachers.base import Completion

    def same_texts(request):
        if "LabeledTexts" not in str((request.json_schema or {}).get("title")):
            return None
        label = request.messages[-1]["content"].split('belong to the label "', 1)[1].split('"', 1)[0]
        texts = [
            "The same review text for every label, word for word, here.",
            "The very same review text for every label, word for word, here.",
            f"Something entirely different for {label}, number {request.seed}.",
        ]
        return Completion(text=json.dumps({"texts": texts}), finish_reason="stop")

    summary = run(
        tmp_path,
        ScriptedTeacher(faults=same_texts),
        verification={"enabled": False},
        generation={"max_rounds": 1},
        targets={"per_label": 3, "max_shortfall": 1.0},  # one round, on purpose: no quota guard here
    )
    kept = rows(tmp_path / "run" / "train.jsonl")
    shared = [r for r in kept if "review text for every label" in r["text"]]
    assert len(shared) == 1, shared  # one label keeps it; every other copy, in any label, is a duplicate
    reasons = summary.funnel["rejected"]["text_filter"]
    assert reasons["exact_duplicate"] > 0 and reasons["rouge_l_near_duplicate"] > 0
    rejected_labels = {
        r["label"] for r in rows(tmp_path / "run" / "rejected.jsonl") if r["reason"] == "exact_duplicate"
    }
    assert rejected_labels - {shared[0]["label"]}, "no duplicate was caught across labels"
    for entry in summary.stats["labels"].values():
        assert entry["generated"] == entry["kept"] + sum(entry["rejected"].values())


def test_cli_domain_errors_are_located_and_write_nothing(tmp_path):
    import subprocess

    from tests.conftest import GENERAL_SEEDS, cli, cli_env

    def seedforge(*args):
        return subprocess.run(cli(*args), env=cli_env(), capture_output=True, text=True, timeout=300)

    bad = write_domain(tmp_path, BASE.replace("name: bad", "name: 'bad\"label'"))
    out = tmp_path / "run"
    proc = seedforge("generate", "--domain", str(bad), "--out", str(out))
    assert proc.returncode == 2 and f"{bad}:7: labels.1.name" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    proc = seedforge("generate", "--domain", str(REVIEWS), "--seeds", str(GENERAL_SEEDS), "--out", str(out))
    assert proc.returncode == 2 and "--domain cannot be combined with --seeds" in proc.stderr
    proc = seedforge("label", "--input", str(tmp_path / "missing.jsonl"), "--domain", str(bad), "--out", str(out))
    assert proc.returncode == 2 and f"{bad}:7: labels.1.name" in proc.stderr
    assert not out.exists()


def test_finetune_classifier_refuses_a_run_without_seeds_before_training(tmp_path):
    import subprocess

    from tests.conftest import cli, cli_env

    run(tmp_path, ScriptedTeacher())
    (tmp_path / "run" / "current" / "seeds.jsonl").unlink()  # from the version the student reads
    proc = subprocess.run(
        cli("finetune", "classifier", str(tmp_path / "run"), "--min-rows-per-label", "1"),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "seeds.jsonl: missing" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "run" / "classifier").exists()
