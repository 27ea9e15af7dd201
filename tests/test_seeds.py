from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.seeds import SeedFileError, SeedsConfig, detect_format, lint_seeds, read_seeds
from tests.conftest import EXAMPLES, GENERAL_SEEDS


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def si_line(i: int, instruction: str = "Do a thing well.", **extra: object) -> str:
    row = {
        "id": f"t{i}",
        "name": f"n{i}",
        "instruction": instruction,
        "instances": [{"input": "", "output": "ok"}],
        "is_classification": False,
        **extra,
    }
    return json.dumps(row)


def test_examples_read_in_every_shipped_format():
    general = read_seeds(GENERAL_SEEDS)
    assert general.format == "self-instruct" and len(general.tasks) == 20
    finance = read_seeds(EXAMPLES / "finance" / "seeds.json")
    assert finance.format == "alpaca" and len(finance.tasks) == 12
    assert finance.tasks[1].instances[0].input.startswith("Income")


def test_self_instruct_fields(tmp_path):
    path = write(tmp_path, "s.jsonl", si_line(1) + "\n" + si_line(2, "Sort the list.", is_classification=True) + "\n")
    seeds = read_seeds(path)
    assert [t.id for t in seeds.tasks] == ["t1", "t2"]
    assert seeds.tasks[1].is_classification and seeds.lines == {"t1": 1, "t2": 2}
    assert len(seeds.sha256) == 64


def test_alpaca_item_errors_name_the_line(tmp_path):
    content = (
        '[\n  {"instruction": "Fine one.", "input": "", "output": "x"},\n'
        '  {"instruction": "", "output": "y"},\n  {"instruction": "Other.", "colour": "red"}\n]\n'
    )
    path = write(tmp_path, "a.json", content)
    with pytest.raises(SeedFileError) as info:
        read_seeds(path)
    text = str(info.value)
    assert f"{path}:3: field 'instruction'" in text
    assert f"{path}:4: field 'colour'" in text


def test_jsonl_and_csv_with_field_mapping(tmp_path):
    jsonl = write(tmp_path, "q.jsonl", '{"question": "What is rain?", "answer": "Water falling."}\n')
    cfg = SeedsConfig(fields={"instruction": "question", "output": "answer"})
    seeds = read_seeds(jsonl, cfg)
    assert seeds.format == "jsonl" and seeds.tasks[0].instruction == "What is rain?"
    assert seeds.tasks[0].instances[0].output == "Water falling."
    csv_path = write(tmp_path, "q.csv", 'question,context,answer\n"Sum these.","1, 2",3\n"Name a color.",,red\n')
    cfg = SeedsConfig(fields={"instruction": "question", "input": "context", "output": "answer"})
    seeds = read_seeds(csv_path, cfg)
    assert [t.instruction for t in seeds.tasks] == ["Sum these.", "Name a color."]
    assert seeds.tasks[0].instances[0].input == "1, 2" and seeds.lines[seeds.tasks[1].id] == 3


def test_text_format_skips_comments_and_blanks(tmp_path):
    path = write(tmp_path, "i.txt", "# my tasks\nWrite a haiku about rain.\n\n  Explain tides.  \n")
    seeds = read_seeds(path)
    assert [(t.id, t.instruction) for t in seeds.tasks] == [
        ("line-2", "Write a haiku about rain."),
        ("line-4", "Explain tides."),
    ]


def test_bom_and_crlf_are_accepted(tmp_path):
    path = write(tmp_path, "b.jsonl", b"\xef\xbb\xbf" + (si_line(1) + "\r\n" + si_line(2) + "\r\n").encode())
    assert len(read_seeds(path).tasks) == 2


def test_bad_lines_are_all_reported_with_line_numbers(tmp_path):
    lines = [si_line(1), "{not json", si_line(3), si_line(1), '{"id": "x", "instruction": "   "}', "[1, 2]"]
    raw = ("\n".join(lines) + "\n").encode() + b'{"id": "bad\xff", "instruction": "x"}\n' + b"\x00\n"
    path = write(tmp_path, "bad.jsonl", raw)
    with pytest.raises(SeedFileError) as info:
        read_seeds(path)
    by_line = {e.line: e for e in info.value.errors}
    assert set(by_line) == {2, 4, 5, 6, 7, 8}
    assert "invalid JSON" in by_line[2].message
    assert by_line[4].field == "id" and "first on line 1" in by_line[4].message
    assert by_line[5].field == "instruction"
    assert "UTF-8" in by_line[7].message and "NUL" in by_line[8].message


def test_skip_bad_lines_keeps_the_valid_ones(tmp_path):
    path = write(tmp_path, "bad.jsonl", si_line(1) + "\n{oops\n" + si_line(3) + "\n")
    seeds = read_seeds(path, SeedsConfig(skip_bad_lines=True))
    assert [t.id for t in seeds.tasks] == ["t1", "t3"]
    assert [e.line for e in seeds.skipped] == [2]


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(SeedFileError, match="no seed tasks"):
        read_seeds(write(tmp_path, "e.txt", "\n\n"))
    with pytest.raises(SeedFileError, match="file not found"):
        read_seeds(tmp_path / "nope.jsonl")


def test_detect_format(tmp_path):
    assert detect_format(write(tmp_path, "a.jsonl", si_line(1))) == "self-instruct"
    assert detect_format(write(tmp_path, "b.jsonl", '{"instruction": "x"}')) == "jsonl"
    assert detect_format(write(tmp_path, "c.json", "[]")) == "alpaca"
    assert detect_format(write(tmp_path, "d.csv", "a\n")) == "csv"
    assert detect_format(write(tmp_path, "e.txt", "x")) == "text"


def test_lint_reports_duplicates_lengths_and_share(tmp_path):
    lines = [
        si_line(1, "Name three fruits."),
        si_line(2, "name three  fruits."),
        si_line(3, "Classify the animal.", is_classification=True),
        "{bad",
    ]
    report = lint_seeds(write(tmp_path, "l.jsonl", "\n".join(lines) + "\n"))
    assert report["count"] == 3 and report["ok"] is False
    assert report["duplicates"] == [{"instruction": "name three fruits.", "lines": [1, 2]}]
    assert report["instruction_words"]["min"] == 3 and report["classification_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert any(":4:" in e for e in report["errors"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
line_kinds = st.one_of(
    st.builds(lambda i: ("good", si_line(i).encode()), st.integers(0, 10**6)),
    st.builds(lambda v: ("bad", json.dumps(v).encode()), json_values.filter(lambda v: not isinstance(v, dict))),
    st.builds(lambda b: ("bad", b"{" + b), st.binary(max_size=30).filter(lambda b: b"\n" not in b)),
    st.just(("bad", b'{"id": "x", "instruction": "ok", "instances": "nope"}')),
    st.just(("bad", b"\xff\xfe garbage")),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(line_kinds, min_size=1, max_size=12))
def test_malformed_lines_are_reported_never_crash_never_dropped(tmp_path, lines):
    # Make ids unique so that only the planted problems are problems.
    body, expected_good, expected_bad = [], [], []
    for number, (kind, raw) in enumerate(lines, start=1):
        if kind == "good":
            raw = si_line(number).encode()
            expected_good.append(number)
        else:
            expected_bad.append(number)
        body.append(raw)
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n")
    try:
        seeds = read_seeds(path, SeedsConfig(format="self-instruct", skip_bad_lines=True))
    except SeedFileError as exc:
        assert not expected_good  # only allowed when nothing at all is usable
        reported = {e.line for e in exc.errors}
    else:
        assert sorted(seeds.lines.values()) == expected_good
        reported = {e.line for e in seeds.skipped}
    assert reported == set(expected_bad)
    if expected_bad:
        with pytest.raises(SeedFileError):
            read_seeds(path, SeedsConfig(format="self-instruct"))


GOOD = "good"
malformed_lines = st.one_of(
    st.just((GOOD, None)),
    st.just(("invalid_json", b'{"id": "x", "instruction": ')),
    st.just(("latin1", '{"id": "l", "instruction": "Caf\u00e9 cr\u00e8me recipe please."}'.encode("latin-1"))),
    st.builds(lambda i: ("bad_utf8", b'{"id": "u%d", "instruction": "ok \xc3\x28 text"}' % i), st.integers(0, 99)),
    st.just(("nul", b'{"id": "n", "instruction": "has\x00nul"}')),
    st.just(("dup", None)),
    st.just(("long", b'{"id": "long", "instruction": "' + b"word " * 250_000 + b'"}')),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    st.lists(malformed_lines, min_size=1, max_size=10),
    st.booleans(),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_malformed_files_report_every_bad_line(tmp_path, lines, bom, newline):
    body, good, bad = [], [], []
    for number, (kind, raw) in enumerate(lines, start=1):
        if kind == GOOD:
            raw = si_line(number).encode()
            good.append(number)
        elif kind == "dup":
            raw = si_line(1).encode()  # the id of line 1: a duplicate unless line 1 is not good
            (bad if 1 in good else good).append(number)
            if 1 not in good:
                raw = si_line(number).encode()
        else:
            bad.append(number)
        body.append(raw)
    data = (b"\xef\xbb\xbf" if bom else b"") + newline.join(body) + newline
    path = tmp_path / "m.jsonl"
    path.write_bytes(data)
    try:
        seeds = read_seeds(path, SeedsConfig(format="self-instruct", skip_bad_lines=True))
        assert sorted(seeds.lines.values()) == good
        assert {e.line for e in seeds.skipped} == set(bad)
        assert all(e.path == str(path) for e in seeds.skipped)
    except SeedFileError as exc:
        assert not good and {e.line for e in exc.errors} == set(bad)
    if bad:
        with pytest.raises(SeedFileError) as info:
            read_seeds(path, SeedsConfig(format="self-instruct"))
        assert {e.line for e in info.value.errors} == set(bad)
