from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from filters import FILTERS, FiltersConfig, FilterSpec, build_chain
from filters.exact import ExactDedup, normalize
from filters.heuristics import Blocklist, NonAsciiStart, OutputEqualsInput, PunctuationStart, WordCount, WriteAProgram
from filters.rouge import RougeNearDup
from prompts import Record
from textmetrics import rouge_tokens


def rec(instruction: str = "Explain the water cycle to a child.", rid: str = "r", **kw) -> Record:
    return Record(id=rid, instruction=instruction, **kw)


@pytest.mark.parametrize(
    ("flt", "text", "reason"),
    [
        (WordCount(), "Name three fruits", "too_short"),
        (WordCount(), "Name fruits", "too_short"),
        (WordCount(), "Name three fruits now please", None),
        (WordCount(), " ".join(["word"] * 150), None),
        (WordCount(), " ".join(["word"] * 151), "too_long"),
        (Blocklist(), "Describe the image below.", "blocklisted_word"),
        (Blocklist(), "Go to the store and buy milk.", "blocklisted_word"),
        (Blocklist(), "Write a song about MUSIC festivals.", "blocklisted_word"),
        (Blocklist(), "Explain mapping functions in math.", None),  # whole words only
        (Blocklist(), "Profile a customer.", None),
        (WriteAProgram(), "Write a program that sorts numbers.", "write_a_program"),
        (WriteAProgram(), "Explain how to write a program.", None),
        (PunctuationStart(), "- List three colors.", "starts_with_punctuation"),
        (PunctuationStart(), '"Quote" this sentence.', "starts_with_punctuation"),
        (PunctuationStart(), "List three colors.", None),
        (NonAsciiStart(), "Élaborer une liste.", "starts_with_non_ascii"),
        (NonAsciiStart(), "¿Qué hora es?", "starts_with_non_ascii"),
        (NonAsciiStart(), "", "empty_instruction"),
        (NonAsciiStart(), "Ask about café hours.", None),
    ],
)
def test_instruction_heuristics(flt, text, reason):
    verdict = flt.check(rec(text))
    assert verdict.keep is (reason is None)
    assert verdict.reason == reason


def test_word_count_min_means_more_than_three_like_alpaca():
    assert WordCount().check(rec("one two three")).reason == "too_short"
    assert WordCount().check(rec("one two three four")).keep


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (rec(output="Paris."), None),
        (rec(output="   "), "empty_output"),
        (rec(input="The cat sat.", output="the  cat sat."), "output_equals_input"),
        (
            rec("Explain the water cycle to a child.", output="Explain the water cycle to a child."),
            "output_equals_instruction",
        ),
    ],
)
def test_response_heuristics(record, reason):
    empty = FILTERS["empty_output"]().check(record)
    same = OutputEqualsInput().check(record)
    got = empty.reason if not empty.keep else same.reason
    assert got == reason


def test_exact_dedup_normalizes_and_names_the_kept_row():
    assert normalize("  Name 3  FRUITS! ") == normalize("name 3 fruits")
    dedup = ExactDedup()
    dedup.accept(rec("Name 3 fruits.", rid="first"))
    verdict = dedup.check(rec("name 3  fruits", rid="second"))
    assert verdict.reason == "exact_duplicate" and verdict.detail["duplicate_of"] == "first"
    assert dedup.check(rec("Name 3 fruits.", rid="x", input="different")).keep


texts = st.text(alphabet=st.sampled_from(list("abcde fgh,.!'-ÉßİX12")), max_size=60)
scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("abc ")), max_size=12), min_size=1, max_size=8), texts)
def test_rouge_filter_reports_the_true_maximum(pool, query):
    flt = RougeNearDup(threshold=1.1)  # never drops, so every pool row stays in
    for i, text in enumerate(pool):
        flt.accept(rec(text, rid=f"p{i}"))
    verdict = flt.check(rec(query))
    best = max(scorer.score(p, query)["rougeL"].fmeasure for p in pool)
    if rouge_tokens(query):
        assert verdict.score == best


def test_rouge_filter_threshold_is_strictly_greater():
    flt = RougeNearDup(threshold=0.5)
    flt.accept(rec("a b c d", rid="seed"))
    assert flt.check(rec("a b x y")).keep  # F1 = 0.5: kept, as in Alpaca (> threshold drops)
    drop = flt.check(rec("a b c y"))
    assert not drop.keep and drop.reason == "rouge_l_near_duplicate" and drop.detail["duplicate_of"] == "seed"
    assert drop.detail["most_similar"] == "a b c d"


def test_chain_first_drop_wins_and_only_survivors_are_remembered():
    chain = build_chain("instruction_filter", FiltersConfig().instruction, prime=[rec("Name three fruits.", rid="s1")])
    kept = chain(rec("Explain how tides work in simple words.", rid="k1"))
    assert not kept.rejected and kept.meta["filters"]["rouge_l"]["most_similar_id"] == "s1"
    short = chain(rec("Tides?", rid="k2"))
    assert short.rejection.stage == "instruction_filter" and short.rejection.reason == "too_short"
    assert short.rejection.detail["filter"] == "length"
    dup = chain(rec("explain how tides work in simple words", rid="k3"))
    assert dup.rejection.reason == "exact_duplicate" and dup.rejection.detail["duplicate_of"] == "k1"
    # a row dropped by `length` was never added to the dedup pools
    assert chain(rec("Tides? Explain them to me now.", rid="k4")).rejection is None


def test_would_keep_gives_the_chains_verdict_and_learns_nothing():
    chain = build_chain("instruction_filter", FiltersConfig().instruction, prime=[rec("Name three fruits.", rid="s1")])
    row = rec("Explain how tides work in simple words.", rid="k1")
    assert chain.would_keep(row) and chain.would_keep(row)  # asking twice learnt nothing
    assert not chain.would_keep(rec("Tides?", rid="k2")) and not chain.would_keep(rec("name three fruits", rid="k3"))
    assert chain(row).rejection is None  # the real screen still keeps it ...
    assert not chain.would_keep(rec("explain how tides work in simple words", rid="k4"))  # ... and now knows it


def test_filter_config_errors_are_clear():
    assert FilterSpec.model_validate("rouge_l").name == "rouge_l"
    with pytest.raises(ValueError, match="unknown filter 'nope'"):
        FilterSpec(name="nope")
    with pytest.raises(ValueError, match="no parameter"):
        FilterSpec(name="rouge_l", params={"treshold": 0.5})
    with pytest.raises(ValueError, match="listed twice"):
        FiltersConfig(instruction=["length", "length"])
