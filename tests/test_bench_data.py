"""The held-out benchmark sets: domains load, files parse, labels agree, no leakage into seeds."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from rapidfuzz import fuzz, process

from conf.domains import load_domain
from generator.classify_config import LABEL_NAME

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
DOMAINS = ROOT / "bench" / "domains"
SETS = ["sentiment", "topics6", "snips"]
TOPICS6_MAX_WORDS = 150  # build.py cuts posts there
NEAR_DUPLICATE = 85  # rapidfuzz ratio above which a seed counts as copied from the data
MAX_SET_BYTES = 5_000_000


def norm(text: str) -> str:
    return " ".join(text.casefold().split())


def rows(name: str, split: str) -> list[dict[str, str]]:
    lines = (DATA / name / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def source_counts(name: str) -> dict[str, tuple[int, int]]:
    """label -> (test, dev) from the counts table in SOURCE.md."""
    out = {}
    for line in (DATA / name / "SOURCE.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"\d+", cells[2]) and not cells[0].startswith("**"):
            out[cells[0]] = (int(cells[2]), int(cells[3]))
    return out


def test_every_set_is_listed_in_the_readme() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in DATA.iterdir() if p.is_dir() and not p.name.startswith("_")) == sorted(SETS)
    for name in SETS:
        assert f"[{name}]({name}/SOURCE.md)" in readme


@pytest.mark.parametrize("name", SETS)
def test_domain_loads_with_seeds_in_range(name: str) -> None:
    loaded = load_domain(DOMAINS / name / "domain.yaml")
    domain = loaded.domain
    assert domain.kind == "classify"
    assert domain.targets.per_label == (100 if len(domain.labels) <= 4 else 60)
    for label in domain.labels:
        assert label.description.strip() and "\n" not in label.description
        seeds = loaded.seeds[label.name]
        assert 1 <= len(seeds) <= 10, label.name
        for seed in seeds:
            words = len(seed.split())
            assert domain.text_length.min_words <= words <= domain.text_length.max_words, seed


@pytest.mark.parametrize("name", SETS)
def test_files_parse_with_the_domains_labels(name: str) -> None:
    labels = set(load_domain(DOMAINS / name / "domain.yaml").domain.label_names)
    assert all(LABEL_NAME.match(label) for label in labels)
    test, dev = rows(name, "test"), rows(name, "dev")
    assert 0 < len(test) <= 2000 and 0 < len(dev) <= 4000
    for row in test + dev:
        assert set(row) == {"text", "label"}
        assert isinstance(row["text"], str) and row["text"].strip()
    assert {r["label"] for r in test} == labels
    assert {r["label"] for r in dev} == labels
    size = sum((DATA / name / f).stat().st_size for f in ("test.jsonl", "dev.jsonl"))
    assert size < MAX_SET_BYTES


@pytest.mark.parametrize("name", SETS)
def test_counts_match_source_md(name: str) -> None:
    table = source_counts(name)
    test = Counter(r["label"] for r in rows(name, "test"))
    dev = Counter(r["label"] for r in rows(name, "dev"))
    assert table == {label: (test[label], dev[label]) for label in test}


@pytest.mark.parametrize("name", SETS)
def test_no_text_shared_between_test_dev_and_seeds(name: str) -> None:
    test = [norm(r["text"]) for r in rows(name, "test")]
    dev = [norm(r["text"]) for r in rows(name, "dev")]
    seeds = [norm(s) for group in load_domain(DOMAINS / name / "domain.yaml").seeds.values() for s in group]
    assert len(set(test)) == len(test)
    assert len(set(dev)) == len(dev)
    assert len(set(seeds)) == len(seeds)
    assert not set(test) & set(dev)
    assert not set(seeds) & (set(test) | set(dev))


@pytest.mark.parametrize("name", SETS)
def test_no_seed_is_a_near_duplicate_of_the_data(name: str) -> None:
    data = [norm(r["text"]) for split in ("test", "dev") for r in rows(name, split)]
    seeds = [s for group in load_domain(DOMAINS / name / "domain.yaml").seeds.values() for s in group]
    close = {}
    for seed in seeds:
        match = process.extractOne(norm(seed), data, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE)
        if match is not None:
            close[seed] = (match[0], round(match[1], 1))
    assert close == {}


def test_topics6_posts_are_cut_at_the_word_cap() -> None:
    lengths = [len(r["text"].split()) for split in ("test", "dev") for r in rows("topics6", split)]
    assert max(lengths) == TOPICS6_MAX_WORDS
