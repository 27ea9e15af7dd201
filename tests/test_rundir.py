"""rundir: one consistent version per reading, one error for "not a run directory", the row codec."""

from __future__ import annotations

import json
import os

import pytest

from prompts import Record
from rundir import BadRow, CorruptArtifact, NotARunDirectory, RunDir, RunExists
from rundir.codec import decode_records, encode_records

KEPT = [Record(id="a", instruction="Say hi.", output="hi"), Record(id="b", kind="classification", text="t", label="x")]
REJECTED = [Record(id="c", instruction="x").reject("response_filter", "empty_output", length=0)]


def rows(records: list[Record]) -> bytes:
    return encode_records(records)


def test_a_reading_stays_on_its_version_while_a_publish_lands(tmp_path):
    run = RunDir(tmp_path / "run")
    run.publish({"train.jsonl": rows(KEPT), "rejected.jsonl": rows(REJECTED), "stats.json": b'{"n": 1}\n'})
    first = run.read()
    run.publish({"train.jsonl": rows(KEPT[:1]), "rejected.jsonl": b"", "stats.json": b'{"n": 2}\n'})
    assert first.number == 1 and run.current_version == 2 and list(run.versions()) == [1, 2]
    # everything read through `first` comes from version 1, though `current` moved on
    assert [r.id for r in first.all_records()] == ["a", "b", "c"] and first.read_json("stats.json") == {"n": 1}
    assert first.all_records() == [*KEPT, *REJECTED]
    second = run.read()
    assert second.number == 2 and [r.id for r in second.records()] == ["a"] and second.read_json("stats.json")["n"] == 2
    assert json.loads((run.path / "stats.json").read_text()) == {"n": 2}  # the stable names follow `current`


def test_not_a_run_directory_names_the_path_and_what_is_missing(tmp_path):
    with pytest.raises(NotARunDirectory, match=f"{tmp_path / 'nope'}: not a run directory \\(no such directory\\)"):
        RunDir(tmp_path / "nope").read()
    with pytest.raises(NotARunDirectory, match=r"no published version: no current/manifest.json"):
        RunDir(tmp_path).read()
    (tmp_path / ".versions" / "00001").mkdir(parents=True)
    os.symlink(".versions/00001", tmp_path / "current")  # a version dir without its manifest
    with pytest.raises(NotARunDirectory, match="no published version"):
        RunDir(tmp_path).read()
    run = RunDir(tmp_path / "run")
    run.publish({"train.jsonl": rows(KEPT)})
    with pytest.raises(NotARunDirectory, match=r"run: not a run directory \(version 1 has no rejected.jsonl\)") as err:
        run.read().records("rejected.jsonl")
    assert err.value.path == run.path and isinstance(err.value, FileNotFoundError)


def test_checked_reads_hold_the_bytes_to_the_manifest(tmp_path):
    run = RunDir(tmp_path / "run")
    run.publish({"train.jsonl": rows(KEPT)})
    version = run.read()
    (version.path / "train.jsonl").write_bytes(rows(KEPT[:1]))
    assert [r.id for r in version.records()] == ["a"]  # unchecked: what is on disk
    with pytest.raises(CorruptArtifact, match="sha256 differs from its manifest \\(version 1\\)"):
        version.records(check=True)
    assert run.verify() and "differ from manifest" in run.verify()[0]


def test_republish_replaces_some_artifacts_and_keeps_the_rest(tmp_path):
    run = RunDir(tmp_path / "run")
    run.publish({"train.jsonl": rows(KEPT), "stats.json": b"{}\n"})
    manifest = run.republish({"report.html": b"<html></html>"})
    version = run.read()
    assert manifest["version"] == version.number == 2
    assert sorted(version.artifacts) == ["report.html", "stats.json", "train.jsonl"]
    assert version.read_bytes("train.jsonl", check=True) == rows(KEPT) and run.verify() == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"id": "a"}\n\nnot json\n', ":3: not JSON"),
        (b'{"id": "a"}\n[1, 2]\n', ":2: not a Seedforge row (no id)"),
        (b'{"id": "a", "kind": "poem"}\n', ":1: not a Seedforge row: 1 validation error"),
        (b'{"id": "a", "messages": [{"role": "assistant", "content": "hi"}]}\n', ":1: not a Seedforge row: id a"),
    ],
)
def test_bad_rows_are_named_with_file_and_line(data, problem):
    with pytest.raises(BadRow) as err:
        decode_records(data, "RUN/train.jsonl")
    assert str(err.value).startswith(f"RUN/train.jsonl{problem}")


def test_a_run_opens_locked_with_its_journal_and_publishes_once_accounting_holds(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.open(resume=False) as opened:
        published = opened.finish([*KEPT, *REJECTED], {"k": 1}, {"run": {"seed": 3}})
    assert published.funnel["kept"] == 2 and published.funnel["rejected"] == {"response_filter": {"empty_output": 1}}
    assert published.stats["run"]["seed"] == 3 and published.stats["run"]["run_id"] == run.run_id
    version = run.read()
    assert version.all_records() == [*KEPT, *REJECTED] and version.read_yaml("config.yaml") == {"k": 1}
    assert run.journal_path.is_file()
    with pytest.raises(RunExists, match="already holds a run journal"), run.open(resume=False):
        pass
