"""Quality filters: each one's table of text → expected reason, its score in meta, config errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from filters import FiltersConfig, FilterSpec, build_chain
from filters.evol import EvolElimination
from filters.language import LanguageFilter
from filters.length_ratio import LengthRatio
from filters.refusal import Refusal
from filters.repetition import Repetition, duplicate_ngram_ratio
from prompts import Record


def pair(instruction: str = "Explain the water cycle to a child.", output: str = "", **kw) -> Record:
    return Record(id=kw.pop("rid", "r"), instruction=instruction, output=output, **kw)


LONG_ANSWER = " ".join(f"word{i}" for i in range(60))


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("As an AI language model, I cannot have opinions about music.", "ai_boilerplate"),
        ("I'm an AI, so here is a neutral summary of both sides.", "ai_boilerplate"),
        ("I’m sorry, but I can’t help with that.", "refusal"),
        ("I cannot answer this question.", "refusal"),
        ("Unfortunately, I am unable to browse the web.", "refusal"),
        # A refusal opener followed by a long, real answer is an answer.
        ("I'm sorry to hear that your plant is wilting. " + LONG_ANSWER, None),
        ("Water evaporates, condenses into clouds and falls as rain.", None),
        ("The word sorry appears here but this is not a refusal.", None),
    ],
)
def test_refusal_table(output, reason):
    verdict = Refusal().check(pair(output=output))
    assert verdict.reason == reason
    assert verdict.score == (1.0 if reason else 0.0)


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("the cat sat on the mat " * 6, "repetitive"),
        ("buy now buy now buy now buy now buy now buy now buy now", "repetitive"),
        ("Rain forms when water vapour cools, condenses on dust and grows into drops heavy enough to fall.", None),
        ("yes yes yes", None),  # too short to judge (min_words)
    ],
)
def test_repetition_table(output, reason):
    verdict = Repetition(fields=["output"]).check(pair(output=output))
    assert verdict.reason == reason
    assert verdict.score == pytest.approx(duplicate_ngram_ratio(output, 3), abs=1e-4)


def test_duplicate_ngram_ratio_bounds():
    assert duplicate_ngram_ratio("a b c d e f", 3) == 0.0
    assert duplicate_ngram_ratio("a b a b a b a b", 2) > 0.5


@pytest.mark.parametrize(
    ("instruction", "output", "reason"),
    [
        ("Write a detailed essay about the causes of the French Revolution.", "Taxes.", "response_too_short"),
        ("Hi", " ".join(["word"] * 200), "response_too_long"),
        ("Name a fruit.", "Apple.", None),
    ],
)
def test_length_ratio_table(instruction, output, reason):
    verdict = LengthRatio(min_ratio=0.2, max_ratio=60).check(pair(instruction, output))
    assert verdict.reason == reason
    assert verdict.detail["prompt_words"] == len(instruction.split())


def test_length_ratio_rejects_inverted_bounds():
    with pytest.raises(ValueError, match="min_ratio"):
        LengthRatio(min_ratio=5, max_ratio=1)


PARENT = {"evolved_from": {"instruction": "Explain the water cycle."}}


@pytest.mark.parametrize(
    ("instruction", "output", "meta", "reason"),
    [
        ("Explain the water cycle.", "Water evaporates and falls again as rain.", PARENT, "no_information_gain"),
        ("explain the water cycle!", "Water evaporates and falls again as rain.", PARENT, "no_information_gain"),
        (
            "Explain the water cycle and how mountains change local rainfall, with one example.",
            "Water evaporates; mountains force air upward so it cools and rains on the windward side.",
            PARENT,
            None,
        ),
        ("Describe a sunset.", "Sorry, I cannot do that.", {}, "sorry_short_response"),
        ("Describe a sunset.", "It is the and of a.", {}, "stopwords_only_response"),
        ("Rewrite the #Given Prompt# to be harder.", "Done: a harder one.", {}, "copied_prompt_words"),
        ("Describe a sunset over the sea.", "The sky turns orange, then violet, as the sun sinks.", {}, None),
    ],
)
def test_evol_elimination_table(instruction, output, meta, reason):
    verdict = EvolElimination().check(pair(instruction, output, meta=meta))
    assert verdict.reason == reason


def test_evol_elimination_scores_the_parent_similarity():
    verdict = EvolElimination().check(pair("Explain the water cycle in detail.", "Rain.", meta=PARENT))
    assert 0 < verdict.score < 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Explain how a rainbow forms after a summer storm.", None),
        ("Explique comment se forme un arc-en-ciel après un orage d'été.", "wrong_language"),
        ("Erkläre, wie sich nach einem Sommergewitter ein Regenbogen bildet.", "wrong_language"),
    ],
)
def test_language_table(text, reason):
    flt = LanguageFilter(languages=["en"], fields=["instruction"])
    verdict = flt.check(pair(text))
    assert verdict.reason == reason
    if reason:
        assert verdict.detail["language"] in ("fr", "de")
    else:
        assert verdict.detail["language"] == "en" and verdict.score > 0.5


def test_language_batch_hook_gives_the_same_verdicts():
    texts = ["Explain how a rainbow forms.", "Explique comment se forme un arc-en-ciel.", "Name three rivers in Asia."]
    records = [pair(t, rid=str(i)) for i, t in enumerate(texts)]
    one = [LanguageFilter(fields=["instruction"]).check(r).reason for r in records]
    flt = LanguageFilter(fields=["instruction"])
    flt.prepare(records)
    assert [flt.check(r).reason for r in records] == one == [None, "wrong_language", None]


def test_language_rejects_unknown_codes():
    with pytest.raises(ValueError, match="ISO 639-1"):
        LanguageFilter(languages=["xx"])


def test_chain_records_each_filters_score_in_meta():
    chain = build_chain("response_filter", [FilterSpec(name="refusal"), FilterSpec(name="length_ratio")])
    kept = chain(pair("Name a fruit.", "Apple is a fruit."))
    assert kept.meta["filters"]["refusal"] == 0.0
    assert kept.meta["filters"]["length_ratio"]["score"] == pytest.approx(4 / 3, abs=1e-3)
    dropped = chain(pair("Name a fruit.", "As an AI language model I have no taste."))
    assert dropped.rejection.stage == "response_filter"
    assert dropped.rejection.reason == "ai_boilerplate"
    assert dropped.rejection.detail["filter"] == "refusal"


def test_config_errors_name_the_filter_and_parameter():
    with pytest.raises(ValidationError, match="no parameter"):
        FilterSpec(name="refusal", params={"max_wordz": 3})
    with pytest.raises(ValidationError, match=r"filters\.post"):
        FiltersConfig(response=[FilterSpec(name="llm_judge")])
    with pytest.raises(ValidationError, match="listed twice"):
        FiltersConfig(post=["minhash_dedup", "minhash_dedup"])
