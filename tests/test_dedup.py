"""Dedup filters: exactness, determinism, idempotence, duplicates that name a kept row, recall."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from bench.corpus import corpus
from filters import FilterChain
from filters.exact import ExactDedup
from filters.minhash import MinHashDedup, auto_bands, collision_probability
from filters.rouge import RougeNearDup
from filters.semantic import SemanticDedup
from generator.teachers.models import embedded_encoder_dir
from prompts import Record

WORDS = ["water", "cycle", "explain", "rain", "cloud", "river", "sea", "list", "three", "name", "the", "a", "of"]
texts_st = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join), min_size=0, max_size=30)


def records(texts: list[str]) -> list[Record]:
    return [Record(id=f"r{i}", instruction=t) for i, t in enumerate(texts)]


def run(make, rows: list[Record]) -> list[Record]:
    return FilterChain("dedup", [make()]).screen_many(rows, block=7)  # small blocks: exercise the batch hook


def kept_texts(rows: list[Record]) -> list[str]:
    return [r.instruction for r in rows if not r.rejected]


DEDUPS = {
    "exact": ExactDedup,
    "rouge_l": RougeNearDup,
    "minhash": lambda: MinHashDedup(threshold=0.6, num_perm=64),
}


@settings(max_examples=60, deadline=None)
@given(texts=texts_st, seed=st.integers(0, 1000))
def test_exact_dedup_keeps_the_same_count_in_any_order(texts, seed):
    shuffled = texts[:]
    random.Random(seed).shuffle(shuffled)
    assert len(kept_texts(run(ExactDedup, records(texts)))) == len(kept_texts(run(ExactDedup, records(shuffled))))


@pytest.mark.parametrize("name", DEDUPS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=texts_st)
def test_dedup_is_deterministic_idempotent_and_names_a_kept_row(name, texts):
    make = DEDUPS[name]
    first = run(make, records(texts))
    assert [r.model_dump() for r in first] == [r.model_dump() for r in run(make, records(texts))]
    kept = [r for r in first if not r.rejected]
    again = run(make, kept)
    assert all(not r.rejected for r in again), "dedup(dedup(x)) must equal dedup(x)"
    kept_ids = {r.id for r in kept}
    for i, row in enumerate(first):
        if row.rejected:
            other = row.rejection.detail["duplicate_of"]
            assert other in kept_ids
            assert int(other[1:]) < i  # a duplicate of an earlier kept row


@settings(max_examples=40, deadline=None)
@given(texts=texts_st)
def test_rouge_filter_decides_exactly_like_rouge_score(texts):
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool: list[str] = []
    expected = []
    for text in texts:
        best = max((scorer.score(text, p)["rougeL"].fmeasure for p in pool), default=0.0)
        keep = best <= 0.7
        expected.append(keep)
        if keep:
            pool.append(text)
    assert [not r.rejected for r in run(RougeNearDup, records(texts))] == expected


def test_minhash_recall_on_injected_near_duplicates_at_default_threshold():
    texts, duplicates = corpus(3000, dup_rate=0.1, seed=3)
    screened = run(MinHashDedup, records(texts))
    caught = sum(screened[i].rejected for i in duplicates)
    assert len(duplicates) > 200
    assert caught / len(duplicates) >= 0.9
    distinct_flagged = sum(r.rejected for i, r in enumerate(screened) if i not in duplicates)
    assert distinct_flagged / (len(texts) - len(duplicates)) < 0.15


def test_minhash_banding_meets_recall_at_threshold():
    bands, rows = auto_bands(0.8, 128)
    assert bands * rows <= 128
    assert collision_probability(0.8, bands, rows) >= 0.9
    assert collision_probability(0.3, bands, rows) < 0.05  # unrelated rows rarely even become candidates


def test_minhash_same_decisions_with_and_without_merges():
    texts, _ = corpus(1500, seed=5)
    small = run(lambda: MinHashDedup(merge_every=50), records(texts))
    big = run(MinHashDedup, records(texts))
    assert [r.rejection for r in small] == [r.rejection for r in big]


def test_minhash_prime_makes_seed_copies_duplicates():
    flt = MinHashDedup()
    flt.prime([Record(id="seed", instruction="Explain the water cycle to a ten year old child")])
    verdict = flt.check(Record(id="x", instruction="Explain the water cycle to a ten year old kid"))
    assert not verdict.keep and verdict.detail["duplicate_of"] == "seed"


@pytest.fixture(scope="module")
def encoder() -> str:
    return str(embedded_encoder_dir())


PARAPHRASES = [
    "How do I bake sourdough bread at home?",
    "Give me a recipe for the Roman empire's fall.",
    "What is the way to bake sourdough bread at home?",
    "Explain why the Roman Empire fell.",
    "List three tips for saving money on groceries.",
    "Why did the Roman Empire collapse?",
]


def test_semantic_dedup_keeps_cluster_and_nearest_neighbour_in_meta(encoder):
    rows = run(lambda: SemanticDedup(threshold=0.85, encoder_dir=encoder), records(PARAPHRASES))
    by_text = {r.instruction: r for r in rows}
    dup = by_text["What is the way to bake sourdough bread at home?"]
    assert dup.rejection.reason == "semantic_near_duplicate"
    assert dup.rejection.detail["duplicate_of"] == "r0" and dup.rejection.detail["cluster"] == "r0"
    assert dup.meta["filters"]["semantic_dedup"]["score"] >= 0.85
    kept = by_text["List three tips for saving money on groceries."]
    assert not kept.rejected
    assert kept.meta["filters"]["semantic_dedup"]["cluster"] == kept.id
    assert kept.meta["filters"]["semantic_dedup"]["nearest_id"] in {"r0", "r1", "r3"}


@pytest.mark.parametrize("index", ["exact", "hnsw"])
def test_semantic_dedup_batch_and_row_paths_agree(encoder, index):
    texts, _ = corpus(300, dup_rate=0.2, seed=9)

    def make() -> SemanticDedup:
        return SemanticDedup(threshold=0.9, encoder_dir=encoder, index=index)

    batched = FilterChain("dedup", [make()]).screen_many(records(texts), block=64)
    one_by_one = FilterChain("dedup", [make()])
    rowwise = [one_by_one(r) for r in records(texts)]
    assert [r.rejected for r in batched] == [r.rejected for r in rowwise]
    assert sum(r.rejected for r in batched) > 20
    again = FilterChain("dedup", [make()]).screen_many([r for r in batched if not r.rejected], block=64)
    assert not any(r.rejected for r in again)
