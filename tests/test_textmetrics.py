"""textmetrics: the one ROUGE-L behind the near-duplicate filter, Evol's progress check and the LM
student's evaluation equals rouge_score's, float for float."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from finetune.lm_data import EvalItem
from finetune.lm_eval import mean_rouge_l
from textmetrics import f1_from_lcs, lcs_length, rouge_l, rouge_tokens

texts = st.text(alphabet=st.sampled_from(list("abcde fgh,.!'-ÉßİX12")), max_size=60)
scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


@settings(max_examples=400, deadline=None)
@given(texts, texts)
def test_rouge_l_equals_rouge_score_exactly(a, b):
    assert rouge_l(a, b) == scorer.score(a, b)["rougeL"].fmeasure
    assert rouge_l(b, a) == scorer.score(b, a)["rougeL"].fmeasure


def test_rouge_l_on_sentences_and_empty_sides():
    pairs = [("The capital of France is Paris.", "Paris is the capital of France"), ("a b c d", "x y"), ("", "x")]
    for ref, cand in pairs:
        assert rouge_l(ref, cand) == scorer.score(ref, cand)["rougeL"].fmeasure
    assert rouge_l("", "x") == 0.0 and rouge_l("a b", "a b") == 1.0


def test_tokens_lcs_and_f1_parts():
    assert rouge_tokens("Don't STOP-me, 2 times!") == ["don", "t", "stop", "me", "2", "times"]
    assert lcs_length(["a", "b", "c", "d"], ["b", "x", "d"]) == 2
    assert lcs_length("abcd", "bxd") == 2
    assert f1_from_lcs(2, 4, 3) == scorer.score("a b c d", "b x d")["rougeL"].fmeasure
    assert f1_from_lcs(0, 4, 0) == 0.0


def test_the_lm_students_mean_rouge_l_averages_the_same_metric():
    items = [EvalItem([{"role": "user", "content": "q"}], ref) for ref in ("a b c d", "the cat sat")]
    answers = ["b x d", "a cat sat down"]
    expected = round((rouge_l("a b c d", "b x d") + rouge_l("the cat sat", "a cat sat down")) / 2, 4)
    assert mean_rouge_l(items, answers) == expected == round((4 / 7 + 4 / 7) / 2, 4)
