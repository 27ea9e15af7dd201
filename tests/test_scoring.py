"""Scoring arithmetic: the token trie of a label set, guided-choice probabilities, reply sums."""

from __future__ import annotations

import math

import pytest

from generator.teachers.scoring import Read, best_choice, combine_choices, plan_choices, reply_logprob

END = 0


def test_distinct_first_tokens_need_one_read():
    plan = plan_choices(["positive", "negative"], [[5], [7]], END)
    assert plan.reads == (Read((), (5, 7)),)


def test_shared_prefixes_and_a_choice_that_prefixes_another_branch_where_they_part():
    # "Sci-Tech" = 3 4 9, "Sports" = 3 8, "World" = 6, "World news" = 6 11
    plan = plan_choices(["Sci-Tech", "Sports", "World", "World news"], [[3, 4, 9], [3, 8], [6], [6, 11]], END)
    assert set(plan.reads) == {Read((), (3, 6)), Read((3,), (4, 8)), Read((6,), (END, 11))}


def test_combine_is_guided_choice_probability_and_sums_to_one():
    plan = plan_choices(["a", "b", "c"], [[1, 2], [1, 3], [4]], END)
    # Raw logprobs over the whole vocabulary: only the allowed children count, renormalised.
    root = {1: math.log(0.2), 4: math.log(0.1)}
    after_1 = {2: math.log(0.05), 3: math.log(0.15)}
    reads = [root if r.path == () else after_1 for r in plan.reads]
    scores = combine_choices(plan, reads)
    probs = {k: math.exp(v) for k, v in scores.items()}
    assert probs["c"] == pytest.approx(0.1 / 0.3)
    assert probs["a"] == pytest.approx((0.2 / 0.3) * (0.05 / 0.2))
    assert probs["b"] == pytest.approx((0.2 / 0.3) * (0.15 / 0.2))
    assert sum(probs.values()) == pytest.approx(1.0)
    assert best_choice(scores) == "b"


def test_identical_tokenizations_are_refused():
    with pytest.raises(ValueError, match="tokenize identically"):
        plan_choices(["x", "X"], [[1], [1]], END)


def test_a_missing_child_logprob_is_an_error_not_a_guess():
    plan = plan_choices(["a", "b"], [[1], [2]], END)
    with pytest.raises(ValueError, match="no logprob"):
        combine_choices(plan, [{1: -1.0}])


def test_reply_logprob_sums_the_reply_tokens_only():
    assert reply_logprob([None, -1.0, -2.0, -0.5, -0.25], 3) == (-0.75, 2)
    with pytest.raises(ValueError):
        reply_logprob([None, -1.0, None], 1)
