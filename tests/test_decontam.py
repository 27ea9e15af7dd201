"""Decontamination against user-named eval files: planted n-grams, spans, file errors."""

from __future__ import annotations

import json

import pytest

from filters.decontam import Decontaminate, EvalFileError
from generator.teachers.models import embedded_encoder_dir
from prompts import Record

EVAL_QUESTION = "A farmer has seventeen sheep and all but nine run away through a hole in the fence during the storm"


@pytest.fixture
def eval_file(tmp_path):
    path = tmp_path / "gsm_eval.jsonl"
    rows = [
        {"question": "What is two plus two?", "answer": "4"},
        {"question": EVAL_QUESTION + "; how many are left?", "answer": "9"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def row(instruction: str, output: str = "An answer.") -> Record:
    return Record(id="x", instruction=instruction, output=output)


def test_a_planted_13_gram_is_found_with_file_line_and_span(eval_file):
    flt = Decontaminate(eval_files=[str(eval_file)])
    words = EVAL_QUESTION.split()
    planted = " ".join(words[3:16])  # exactly 13 words of the eval question
    verdict = flt.check(row(f"Solve this riddle for me: {planted.upper()}, please."))
    assert not verdict.keep and verdict.reason == "contaminated"
    assert verdict.detail["eval_file"] == str(eval_file)
    assert verdict.detail["eval_line"] == 2
    assert verdict.detail["span"] == planted.upper()  # the row's own text, as written
    assert verdict.detail["ngram"] == 13


def test_twelve_shared_words_are_not_contamination(eval_file):
    twelve = " ".join(EVAL_QUESTION.split()[3:15])
    assert Decontaminate(eval_files=[str(eval_file)]).check(row(f"Riddle: {twelve} and then rabbits.")).keep


def test_n_is_configurable_and_short_eval_rows_match_whole(eval_file, tmp_path):
    flt = Decontaminate(eval_files=[str(eval_file)], ngram=5)
    assert flt.check(row("Tell me: all but nine run away today")).reason == "contaminated"
    short = tmp_path / "short.txt"
    short.write_text("name the largest planet in our solar system\n")
    whole = Decontaminate(eval_files=[str(short)], min_words=8)
    verdict = whole.check(row("Quiz: Name the largest planet in our solar system."))
    assert verdict.reason == "contaminated" and verdict.detail["eval_line"] == 1
    assert (
        Decontaminate(eval_files=[str(short)], min_words=9)
        .check(row("Name the largest planet in our solar system"))
        .keep
    )


def test_outputs_are_checked_too(eval_file):
    leak = " ".join(EVAL_QUESTION.split()[:13])
    verdict = Decontaminate(eval_files=[str(eval_file)]).check(row("Tell a story.", output=f"Once: {leak}."))
    assert verdict.reason == "contaminated"


def test_eval_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"question": \n')
    with pytest.raises(EvalFileError, match=r"bad\.jsonl:2: invalid JSON"):
        Decontaminate(eval_files=[str(bad)])
    with pytest.raises(EvalFileError, match=r"bad\.jsonl:1: field 'prompt' missing"):
        Decontaminate(eval_files=[str(bad)], eval_fields=["prompt"])
    with pytest.raises(EvalFileError, match="not found"):
        Decontaminate(eval_files=[str(tmp_path / "missing.csv")])


def test_embedding_similarity_catches_a_paraphrased_leak(eval_file):
    flt = Decontaminate(eval_files=[str(eval_file)], embedding_threshold=0.8, encoder_dir=str(embedded_encoder_dir()))
    verdict = flt.check(row("What do you get when you add two and two?", output=""))
    assert verdict.reason == "contaminated_semantic" and verdict.detail["eval_line"] == 1
    assert flt.check(row("Describe the life cycle of a butterfly.", output="")).keep
