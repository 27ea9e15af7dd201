"""Scoring requests and verification with the real engine (vLLM CPU, embedded SmolLM2-135M)."""

from __future__ import annotations

import math

import pytest

from generator.gateway import Call, Gateway
from generator.teachers.base import SamplingConfig
from generator.verify.blind import SCORE_SAMPLING
from prompts import get_spec

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
TASK = "Decide whether a restaurant review is positive or negative."
REVIEWS = [
    "The soup was cold, the waiter ignored us for forty minutes and the bill was wrong.",
    "Lovely little place, friendly staff and the best pasta I have had in years.",
    "Overpriced, bland and noisy. We will not be back.",
]


def classify_messages(text: str, labels: list[str]) -> list[dict[str, str]]:
    spec = get_spec("classify")
    return spec.render(task=TASK, labels=[{"name": label, "description": ""} for label in labels], text=text)


def test_choice_scores_are_a_distribution_whose_best_is_what_guided_greedy_decoding_answers(vllm_teacher):
    spec = get_spec("classify")
    gateway = Gateway(vllm_teacher)
    for labels in (["positive", "negative"], ["good", "bad", "Sci-Tech", "World", "World news"]):
        choices = tuple(labels)
        scored = gateway.run(
            [
                Call(spec, classify_messages(t, labels), SCORE_SAMPLING, f"s/{i}", choices=choices, score="choices")
                for i, t in enumerate(REVIEWS)
            ],
            "score",
        )
        greedy = gateway.run(
            [
                Call(
                    spec,
                    classify_messages(t, labels),
                    SamplingConfig(temperature=0, top_p=1, max_tokens=8),
                    f"g/{i}",
                    choices=choices,
                )
                for i, t in enumerate(REVIEWS)
            ],
            "greedy",
        )
        for s, g in zip(scored, greedy, strict=True):
            assert s.ok and g.ok, (s.errors, g.errors)
            logprobs = s.completion.choice_logprobs
            assert set(logprobs) == set(labels)
            assert sum(math.exp(v) for v in logprobs.values()) == pytest.approx(1.0, abs=1e-4)
            if labels == ["positive", "negative"]:
                # One read, first tokens differ: greedy guided choice must pick the most likely.
                assert s.text == g.parsed.label


def test_reply_scores_prefer_a_fluent_reply_and_grow_with_its_length(vllm_teacher):
    spec = get_spec("label_likelihood")
    gateway = Gateway(vllm_teacher)
    prompt = spec.render(task=TASK, label="negative", label_description="the diner was unhappy")
    fluent = "The soup was cold and the waiter ignored us."
    salad = "waiter cold us The and ignored soup was the."
    calls = [
        Call(
            spec,
            [*prompt, {"role": "assistant", "content": reply}],
            SCORE_SAMPLING,
            f"r/{k}",
            guided=False,
            score="reply",
        )
        for k, reply in enumerate([fluent, salad, fluent + " Never again."])
    ]
    a, b, longer = (o.completion for o in gateway.run(calls, "reply"))
    assert a.reply_tokens == b.reply_tokens > 5
    assert a.reply_logprob < 0 and a.reply_logprob > b.reply_logprob + 5
    assert longer.reply_tokens > a.reply_tokens and longer.reply_logprob < a.reply_logprob


def test_vllm_serve_scores_what_the_in_process_engine_scores(vllm_teacher, vllm_server, monkeypatch):
    from generator.teachers.openai import OpenAIConfig, OpenAITeacher

    monkeypatch.setenv("TEST_TEACHER_KEY", vllm_server.api_key)
    remote = OpenAITeacher(
        OpenAIConfig(model=vllm_server.model, base_urls=(vllm_server.url,), api_key_env="TEST_TEACHER_KEY")
    )
    spec, likelihood = get_spec("classify"), get_spec("label_likelihood")
    labels = ("positive", "negative", "World news", "World")
    prompt = likelihood.render(task=TASK, label="positive", label_description="the diner was happy")
    calls = [
        Call(spec, classify_messages(REVIEWS[1], list(labels)), SCORE_SAMPLING, "c", choices=labels, score="choices"),
        Call(
            likelihood,
            [*prompt, {"role": "assistant", "content": REVIEWS[1]}],
            SCORE_SAMPLING,
            "r",
            guided=False,
            score="reply",
        ),
    ]
    try:
        local = [o.completion for o in Gateway(vllm_teacher).run(calls, "local")]
        served = [o.completion for o in Gateway(remote).run(calls, "remote")]
    finally:
        remote.close()
    for name in labels:
        assert served[0].choice_logprobs[name] == pytest.approx(local[0].choice_logprobs[name], abs=0.05)
    assert served[1].reply_tokens == local[1].reply_tokens
    assert served[1].reply_logprob == pytest.approx(local[1].reply_logprob, rel=0.01)


BIASED_DOMAIN = """kind: classify
name: restaurant-sentiment
task: Decide whether a short restaurant review is positive or negative.
labels:
  - name: positive
    description: the diner enjoyed the meal and would come back
    seeds:
      - Lovely little place, friendly staff and the best pasta I have had in years.
      - The tacos were fresh and the salsa had real heat. We will be back next week.
      - Great service, generous portions and a cozy room. Highly recommended.
      - The chef came out to say hello and the dessert was perfect.
  - name: negative
    description: the diner was disappointed and would not come back
    seeds:
      - The soup was cold, the waiter ignored us and the bill was wrong.
      - Overpriced, bland and noisy. We will not be back.
      - We waited an hour for burnt pizza and nobody apologized.
      - The fish smelled off and the table was sticky. Avoid.
targets:
  per_label: 5
text_length: {min_words: 4, max_words: 40}
generation: {texts_per_prompt: 3, demos_per_prompt: 3, max_rounds: 2, max_prompts_per_label: 4}
teacher: {enforce_eager: true}
"""


def test_a_biased_teacher_trips_the_guard_with_vote_and_likelihood_keeps_both_labels(vllm_teacher, tmp_path):
    """The embedded teacher, as a classifier, calls nearly every review positive: voting starves
    'negative', the run publishes what it has and exits 4 naming the label; likelihood does not
    ask the teacher to classify and keeps both labels."""
    import json
    import subprocess

    from conf.domains import load_domain
    from pipeline.labeled import generate_labeled
    from tests.conftest import cli, cli_env

    domain = tmp_path / "domain.yaml"
    domain.write_text(BIASED_DOMAIN + "verification: {method: vote}\n")
    proc = subprocess.run(
        cli("generate", "--domain", str(domain), "--out", str(tmp_path / "vote")),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert "'negative'" in proc.stderr and "verification.method" in proc.stderr
    kept = [json.loads(x) for x in (tmp_path / "vote" / "train.jsonl").read_text().splitlines()]
    stats = json.loads((tmp_path / "vote" / "stats.json").read_text())
    # Exit 4 means 'negative' missed its quota by more than max_shortfall; which few texts slip
    # through depends on the engine's batch composition (vLLM is not batch-invariant), not on the guard.
    negatives = sum(r["label"] == "negative" for r in kept)
    quota = stats["labels"]["negative"]["target"]
    assert len(kept) == stats["funnel"]["kept"] and negatives < quota * 0.5, (negatives, quota)
    assert stats["verification"]["labels"]["negative"]["predicted_instead"].get("positive", 0) > 0

    domain.write_text(BIASED_DOMAIN + "verification: {method: likelihood}\n")
    summary = generate_labeled(load_domain(domain), tmp_path / "likelihood", teacher=vllm_teacher)
    kept = [json.loads(x) for x in (tmp_path / "likelihood" / "train.jsonl").read_text().splitlines()]
    counts = {label: sum(r["label"] == label for r in kept) for label in ("positive", "negative")}
    assert all(n >= 3 for n in counts.values()), counts  # at least half of each quota
    for row in kept:
        info = row["meta"]["verification"]
        assert info["method"] == "likelihood" and info["margin"] >= 0 and info["predicted"] == row["label"]
    quarantined = sum(summary.funnel["rejected"].get("validation", {}).values())  # no text: nothing to verify
    verified = summary.funnel["candidates"] - quarantined
    assert summary.stats["teacher"]["stages"]["verify_likelihood"]["requests"] == 2 * verified
