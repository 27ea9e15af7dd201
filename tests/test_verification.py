"""Verification methods and the label guard with the scripted teacher (fast, no model).

The scripted teacher plants the intended label in every text ("... a negative one ..."); with
`biased_to` its classifier answers one label for everything and its label scores lean to it —
the failure the embedded teacher shows on real domains.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from conf.domains import load_domain
from generator.label_guard import LabelGuard, likely_cause
from generator.verify.calibrated import calibrate
from generator.verify.likelihood import margin_per_token
from pipeline.labeled import QuotaShortfall, generate_labeled
from prompts import Record
from tests.conftest import EXAMPLES
from tests.fakes import QUALIFIERS, TOPICS, VERBS, ScriptedTeacher

REVIEWS = EXAMPLES / "reviews" / "domain.yaml"
LABELS = ("positive", "negative", "neutral")


def fake_embed(texts):
    """Hashed bag of words, unit length: enough for a linear model to see the planted label."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().replace(":", " ").split():
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def run(tmp_path, teacher, method, **overrides):
    verification = {"method": method, **overrides.pop("verification", {})}
    loaded = load_domain(REVIEWS, {"targets": {"per_label": 4}, "verification": verification, **overrides})
    return generate_labeled(loaded, tmp_path / "run", teacher=teacher, embed=fake_embed)


def kept_rows(tmp_path):
    return [json.loads(line) for line in (tmp_path / "run" / "train.jsonl").read_text().splitlines()]


def test_calibration_divides_by_the_content_free_prior():
    raw = {"positive": 0.7, "negative": 0.2, "neutral": 0.1}
    prior = {"positive": 0.8, "negative": 0.1, "neutral": 0.1}
    calibrated = calibrate(raw, prior)
    expected = {"positive": 0.875, "negative": 2.0, "neutral": 1.0}
    total = sum(expected.values())
    assert calibrated == pytest.approx({k: v / total for k, v in expected.items()})
    assert max(calibrated, key=calibrated.get) == "negative"


def test_likelihood_margin_is_per_token_over_the_best_other_label():
    loglik = {"positive": -40.0, "negative": -46.0, "neutral": -44.0}
    assert margin_per_token(loglik, "positive", 20) == pytest.approx(0.2)
    assert margin_per_token(loglik, "neutral", 20) == pytest.approx(-0.2)


def test_vote_with_a_biased_teacher_starves_labels_and_the_guard_fails_the_run(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="seedforge.run"), pytest.raises(QuotaShortfall) as caught:
        run(tmp_path, ScriptedTeacher(biased_to="positive"), "vote")
    short = caught.value
    assert {lag.label for lag in short.lags} == {"negative", "neutral"}
    assert all(lag.kept == 0 and lag.generated >= 10 for lag in short.lags)
    assert "biased" in short.explain() and "verification.method" in short.explain()
    # Reported while it happened, with the label the verifier said instead.
    assert any("'negative' is falling behind" in r.message and "'positive'" in r.message for r in caplog.records)
    # Published all the same: nothing already generated is lost.
    kept = kept_rows(tmp_path)
    assert {r["label"] for r in kept} == {"positive"} and len(kept) == short.summary.funnel["kept"]
    stats = short.summary.stats
    assert stats["verification"]["labels"]["negative"]["predicted_instead"]["positive"] >= 10


@pytest.mark.parametrize("method", ["calibrated", "likelihood", "confident_learning", "ensemble"])
def test_methods_that_do_not_trust_the_biased_classifier_keep_every_label(tmp_path, method):
    summary = run(tmp_path, ScriptedTeacher(biased_to="positive"), method)
    kept = kept_rows(tmp_path)
    assert {label: sum(r["label"] == label for r in kept) for label in LABELS} == dict.fromkeys(LABELS, 4)
    for row in kept:
        info = row["meta"]["verification"]
        assert info["method"] == method and info["keep"] is True
        if method != "confident_learning":
            assert info["predicted"] == row["label"]
        assert sum(info["probs"].values()) == pytest.approx(1.0, abs=1e-4)
    if method == "calibrated":
        prior = summary.stats["verification"]["calibration_prior"]
        assert max(prior, key=prior.get) == "positive" and prior["positive"] > 0.8
        assert all(row["meta"]["verification"]["raw_probs"]["positive"] > 0.5 for row in kept)
    if method == "ensemble":
        members = kept[0]["meta"]["verification"]["members"]
        assert set(members) == {"calibrated", "likelihood", "confident_learning"}


def test_likelihood_and_calibrated_reject_texts_written_for_another_label(tmp_path):
    def swapped(request):
        if "LabeledTexts" not in str((request.json_schema or {}).get("title")):
            return None
        from generator.teachers.base import Completion

        label = request.messages[-1]["content"].split('belong to the label "', 1)[1].split('"', 1)[0]
        other = "negative" if label != "negative" else "positive"
        texts = [f"Plan a trip {request.seed}: a {label} one", f"Plan a meal {request.seed}: a {other} one"]
        return Completion(text=json.dumps({"texts": texts}), finish_reason="stop")

    for method in ("calibrated", "likelihood"):
        out = tmp_path / method
        out.mkdir()
        summary = run(out, ScriptedTeacher(faults=swapped), method, targets={"per_label": 2, "max_shortfall": 1.0})
        assert summary.funnel["rejected"]["verification"]["label_mismatch"] > 0
        for row in kept_rows(out):
            assert f"a {row['label']} one" in row["text"]


def test_confident_learning_names_planted_mislabels(tmp_path):
    def noisy(request):
        if "LabeledTexts" not in str((request.json_schema or {}).get("title")):
            return None
        from generator.teachers.base import Completion

        label = request.messages[-1]["content"].split('belong to the label "', 1)[1].split('"', 1)[0]
        rng = random.Random(request.seed)
        texts = [f"{rng.choice(VERBS)} {rng.choice(TOPICS)} {rng.choice(QUALIFIERS)}: a {label} one" for _ in range(3)]
        if request.seed % 3 == 0:  # every third prompt slips one text of another label in
            wrong = next(x for x in LABELS if x != label)
            texts[-1] = texts[-1].replace(f"a {label} one", f"a {wrong} one")
        return Completion(text=json.dumps({"texts": texts}), finish_reason="stop")

    summary = run(tmp_path, ScriptedTeacher(faults=noisy), "confident_learning", targets={"per_label": 8})
    planted, flagged = _planted_stats(tmp_path)
    assert summary.funnel["rejected"]["verification"]["label_issue"] == len(flagged) > 0
    caught = [r for r in flagged if r in planted]
    base_rate = len(planted) / summary.funnel["candidates"]
    assert len(caught) / len(flagged) >= 0.5 > 3 * base_rate, "flags should be far more often planted than chance"
    assert len(caught) >= 0.5 * len(planted)


def test_allocation_serves_the_labels_furthest_from_quota_first():
    guard = LabelGuard({"a": 10, "b": 10, "c": 10}, overgenerate=2.0, method="vote")
    guard.tally["a"].kept, guard.tally["a"].generated = 9, 12  # nearly done, good yield
    guard.tally["b"].generated = 30  # nothing kept: lagging, low yield
    alloc = guard.allocate(per_text=3, per_label_cap=4)
    # Budget 3 labels x 4. Each short label first gets its want up to the cap: a (one row short)
    # 1, b (nothing kept, lowest yield, wants 8) 4, c (untried, prior yield 1/2, wants 7) 4; the
    # 3 left go to the furthest behind, b, up to twice the cap.
    assert alloc == {"a": 1, "b": 7, "c": 4}
    guard.tally["b"].kept = guard.tally["c"].kept = 10
    assert guard.allocate(per_text=3, per_label_cap=4) == {"a": 1}


def test_prompts_still_out_count_against_a_labels_want_at_its_observed_yield():
    """A round sent before the verdicts of the one before it asks only for what the prompts
    already out are not expected to bring, so rounds ahead do not overshoot in expectation."""
    guard = LabelGuard({"a": 30, "b": 30, "c": 6}, overgenerate=2.0, method="vote")
    guard.tally["a"].kept, guard.tally["a"].generated = 10, 16
    # At 2 texts a prompt: a needs 20 at yield (10 + 2) / 20 = 0.6: 17 prompts; b (untried, prior
    # yield 1/2) needs 30: 30 prompts; c needs 6: 6 prompts. The cap is 4 a label.
    assert guard.allocate(per_text=2, per_label_cap=4) == {"a": 4, "b": 4, "c": 4}
    out = Counter({"a": 4, "b": 4, "c": 4})  # the round just sent, not yet judged
    # a 17 - 4 and b 30 - 4 still want more than the cap; c wants 6 - 4 = 2; the 2 left of the
    # round's budget go to b, the furthest from its quota.
    assert guard.allocate(per_text=2, per_label_cap=4, pending=out) == {"a": 4, "b": 6, "c": 2}
    enough = Counter({"a": 17, "b": 30, "c": 6})  # every quota filled at the expected yield
    assert guard.allocate(per_text=2, per_label_cap=4, pending=enough) == {}
    assert guard.allocate(per_text=2, per_label_cap=4, pending=enough - Counter({"c": 1})) == {"c": 1}


def test_lagging_needs_evidence_and_is_reported_once():
    guard = LabelGuard({"a": 10, "b": 10}, overgenerate=2.0, method="vote")

    def see(label, keep, n, predicted="a"):
        for i in range(n):
            record = Record(id=f"{label}{keep}{i}", kind="classification", text="t", label=label)
            if not keep:
                record = record.with_meta(verification={"predicted": predicted})
                record = record.reject("verification", "label_mismatch")
            guard.observe(record)

    see("a", True, 5)
    see("b", False, 9)
    assert guard.lagging() == []  # 9 texts are not evidence enough
    see("b", False, 1)
    (lag,) = guard.lagging()
    assert lag.label == "b" and lag.acceptance == 0.0 and "'a'" in lag.cause
    assert guard.lagging() == []
    assert [x.label for x in guard.shortfalls(0.5)] == ["b"]  # a kept 5 of 10: exactly half, not more


def test_likely_cause_names_duplicates_and_schema_failures():
    guard = LabelGuard({"a": 4}, overgenerate=2.0, method="calibrated")
    guard.tally["a"].rejected.update({"text_filter/rouge_l_near_duplicate": 5, "validation/truncated": 1})
    cause, advice = likely_cause("a", guard.tally["a"], "calibrated")
    assert "repeat" in cause and "temperature" in advice
    guard.tally["a"].rejected.update({"validation/truncated": 9})
    cause, advice = likely_cause("a", guard.tally["a"], "calibrated")
    assert "schema" in cause and "max_tokens" in advice


def test_cli_exits_4_naming_the_label_and_keeps_the_published_rows(tmp_path, monkeypatch):
    import pipeline.skeleton
    from cli.main import app

    monkeypatch.setattr(pipeline.skeleton, "make_teacher", lambda *a, **k: ScriptedTeacher(biased_to="positive"))
    domain = tmp_path / "domain.yaml"
    text = REVIEWS.read_text().replace("per_label: 20", "per_label: 4")
    domain.write_text(text.replace("  samples: 1", "  method: vote\n  samples: 1"))
    result = CliRunner().invoke(app, ["generate", "--domain", str(domain), "--out", str(tmp_path / "run")])
    assert result.exit_code == 4, result.output
    assert "'negative'" in result.output and "verification.method" in result.output
    assert "train.jsonl" in result.output  # the funnel and where the rows are come first
    assert (tmp_path / "run" / "train.jsonl").read_text().count('"label": "positive"') == 4


def _planted_stats(tmp_path):
    rejected = [json.loads(x) for x in (tmp_path / "run" / "rejected.jsonl").read_text().splitlines()]
    everything = rejected + kept_rows(tmp_path)
    planted = [r for r in everything if r.get("text") and f"a {r['label']} one" not in r["text"]]
    flagged = [r for r in rejected if r["reason"] == "label_issue"]
    return planted, flagged


def test_batch_calibration_removes_the_lean_estimated_from_the_texts_themselves(tmp_path):
    summary = run(tmp_path, ScriptedTeacher(biased_to="positive"), "calibrated", verification={"prior": "batch"})
    kept = kept_rows(tmp_path)
    assert {label: sum(r["label"] == label for r in kept) for label in LABELS} == dict.fromkeys(LABELS, 4)
    prior = summary.stats["verification"]["calibration_prior"]
    assert max(prior, key=prior.get) == "positive" and sum(prior.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("method", "in_flight", "order_seed"), [("ensemble", 4, 0), ("ensemble", 16, 1), ("vote", 8, 2)]
)
def test_streaming_sends_verification_ahead_and_keeps_the_round_based_rows(
    tmp_path, monkeypatch, method, in_flight, order_seed
):
    from generator.classify import LabeledGenerator
    from tests.fakes import SessionScriptedTeacher

    bias = {"biased_to": "positive"} if method == "ensemble" else {}  # the vote would starve two labels
    extra: dict = {"verification": {"samples": 3}} if method == "vote" else {}
    # Rounds of at most 2 prompts a label: a round cannot fill a quota, so the next one goes out
    # while this one decodes (generation.rounds_ahead).
    extra.update(targets={"per_label": 8}, generation={"max_prompts_per_label": 2})
    batched = ScriptedTeacher(**bias)
    base = run(tmp_path / "batched", batched, method, **extra)
    streamed = SessionScriptedTeacher(in_flight=in_flight, order_seed=order_seed, **bias)
    judged: list[int] = []  # the teacher's log length as each round's verdicts are in
    judge = LabeledGenerator._judge
    monkeypatch.setattr(LabeledGenerator, "_judge", lambda *a: (judge(*a), judged.append(len(streamed.log)))[0])
    summary = run(tmp_path / "streamed", streamed, method, **extra)
    rows = {name: (tmp_path / name / "run" / "train.jsonl").read_text() for name in ("batched", "streamed")}
    assert rows["streamed"] == rows["batched"]
    rejected = {name: (tmp_path / name / "run" / "rejected.jsonl").read_text() for name in ("batched", "streamed")}
    assert rejected["streamed"] == rejected["batched"]
    # nothing asked twice: every verification call sent ahead answered the later identical one
    assert len(streamed.calls) == len(batched.calls)
    assert summary.stats["teacher"]["calls"] == base.stats["teacher"]["calls"]
    for stage, counts in base.stats["teacher"]["stages"].items():
        got = summary.stats["teacher"]["stages"][stage]
        assert {k: got[k] for k in ("requests", "attempts", "cached", "prompt_tokens", "completion_tokens")} == {
            k: counts[k] for k in ("requests", "attempts", "cached", "prompt_tokens", "completion_tokens")
        }
    # verification requests went out while texts of the same round were still unanswered
    events = [(event, title) for event, title, _ in streamed.log]
    first_check = next(i for i, (event, title) in enumerate(events) if event == "submit" and title != "LabeledTexts")
    last_text = max(i for i, (event, title) in enumerate(events) if event == "finish" and title == "LabeledTexts")
    assert first_check < last_text
    # and round 1's texts had gone to the teacher before round 0's verdicts were in (a round ahead;
    # round by round, none would have). Later rounds go ahead only while the prompts out are not
    # expected to fill the quotas.
    rows = kept_rows(tmp_path / "streamed") + [json.loads(x) for x in rejected["streamed"].splitlines()]
    round_of = {r["meta"]["text_request"]["id"]: r["meta"]["round"] for r in rows if "text_request" in r["meta"]}
    assert summary.stats["run"]["rounds"] == len(judged) > 1
    before_verdicts = {
        round_of[r.request_id("scripted", "v1", "scripted")]
        for event, title, r in streamed.log[: judged[0]]
        if event == "submit" and title == "LabeledTexts"
    }
    assert before_verdicts == {0, 1}
