from __future__ import annotations

import json
import os
import random
import shutil

import pytest

from conf.config import load_config
from generator.teachers.base import Completion
from pipeline.instruct import generate
from rundir.journal import Journal, decode_entry, encode_entry, scan
from rundir.lock import RunLocked, run_lock
from rundir.publish import CURRENT, publish, verify
from tests.conftest import GENERAL_SEEDS
from tests.fakes import StreamingScriptedTeacher


def completion(i: int) -> Completion:
    return Completion(text=f'{{"output": "answer {i}"}}', finish_reason="stop", prompt_tokens=3, completion_tokens=i)


def test_entries_round_trip_and_reject_tampering():
    line = encode_entry("abc", completion(1))
    assert decode_entry(line) == ("abc", completion(1))
    assert decode_entry(line.replace(b"answer 1", b"answer 2")) is None
    assert decode_entry(line[:-5]) is None
    assert decode_entry(b"\x00\xff garbage\n") is None


def test_journal_persists_and_ignores_duplicates(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.put_many([("a", completion(1)), ("b", completion(2))])
    journal.put_many([("a", completion(9))])  # already journaled: first answer stays
    journal.close()
    reopened = Journal(path)
    assert reopened.get("a") == completion(1) and reopened.get("b") == completion(2)
    assert reopened.summary()["loaded"] == 2 and len(path.read_bytes().splitlines()) == 2
    reopened.close()


def test_torn_tail_is_cut_before_appending(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.put_many([(str(i), completion(i)) for i in range(5)])
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7] + b"\x00\x00garbage")
    torn = Journal(path)
    assert set(torn.entries) == {"0", "1", "2", "3"} and torn.torn_bytes > 0
    torn.put_many([("5", completion(5))])
    torn.close()
    again = scan(path)
    assert set(again.entries) == {"0", "1", "2", "3", "5"} and again.torn_bytes == 0


def test_corruption_inside_the_file_is_counted_not_fatal(tmp_path):
    path = tmp_path / "journal.jsonl"
    lines = [encode_entry(str(i), completion(i)) for i in range(3)]
    path.write_bytes(lines[0] + b'{"id": "x", "completion": {}, "check": "nope"}\n' + lines[1] + lines[2])
    result = scan(path)
    assert set(result.entries) == {"0", "1", "2"} and result.bad_records == 1 and result.torn_bytes == 0


def test_one_writer_per_run_dir(tmp_path):
    with run_lock(tmp_path), pytest.raises(RunLocked), run_lock(tmp_path):
        pass


def run_fake(out, **generation):
    config = load_config(overrides={"generation": {"num": 25, "min_prompts_per_round": 4, **generation}})
    teacher = StreamingScriptedTeacher()
    return generate(config, GENERAL_SEEDS, out, teacher=teacher), teacher


@pytest.mark.parametrize("case", range(12))
def test_torn_journal_resume_is_identical(tmp_path, case):
    reference, _ = run_fake(tmp_path / "ref")
    rng = random.Random(case)
    journal = (tmp_path / "ref" / "journal.jsonl").read_bytes()
    cut = rng.randrange(1, len(journal))
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "journal.jsonl").write_bytes(journal[:cut] + os.urandom(rng.randrange(0, 200)))
    summary, teacher = run_fake(torn)
    assert (torn / "train.jsonl").read_bytes() == (tmp_path / "ref" / "train.jsonl").read_bytes()
    assert (torn / "rejected.jsonl").read_bytes() == (tmp_path / "ref" / "rejected.jsonl").read_bytes()
    kept_entries = journal[:cut].count(b"\n")
    assert summary.stats["journal"]["loaded"] == kept_entries
    assert len(teacher.calls) == reference.stats["teacher"]["calls"] - kept_entries
    assert not verify(torn)


def test_publish_is_versioned_and_verifiable(tmp_path):
    first = publish(tmp_path, {"train.jsonl": b'{"a": 1}\n', "stats.json": b"{}"})
    second = publish(tmp_path, {"train.jsonl": b'{"a": 1}\n{"a": 2}\n', "stats.json": b"{}"})
    assert (first["version"], second["version"]) == (1, 2)
    assert second["artifacts"]["train.jsonl"]["rows"] == 2
    assert (tmp_path / "train.jsonl").read_bytes().count(b"\n") == 2
    assert json.loads((tmp_path / "manifest.json").read_text())["version"] == 2
    assert os.readlink(tmp_path / CURRENT) == ".versions/00002" and not verify(tmp_path)
    shutil.copy(tmp_path / "train.jsonl", tmp_path / "x")
    (tmp_path / CURRENT / "train.jsonl").write_bytes(b"tampered\n")
    assert "differ from manifest" in verify(tmp_path)[0]
