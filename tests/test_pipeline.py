from __future__ import annotations

import json

import pytest
import yaml

from conf.config import load_config
from generator.seeds import SeedFileError
from generator.teachers.base import ChatRequest, Completion
from pipeline.instruct import generate
from prompts import Record
from rundir.accounting import AccountingError, check_accounting
from tests.conftest import GENERAL_SEEDS
from tests.fakes import ScriptedTeacher, schema_title


def small_config(**generation):
    return load_config(overrides={"generation": {"num": 20, "min_prompts_per_round": 4, **generation}})


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_writes_a_complete_run_dir(tmp_path):
    teacher = ScriptedTeacher()
    summary = generate(small_config(), GENERAL_SEEDS, tmp_path / "run", teacher=teacher)
    out = tmp_path / "run"
    train, rejected = read(out / "train.jsonl"), read(out / "rejected.jsonl")
    stats = json.loads((out / "stats.json").read_text())
    assert len(train) == 20 == summary.funnel["kept"]
    assert stats["funnel"]["candidates"] == len(train) + len(rejected)
    assert sum(sum(r.values()) for r in stats["funnel"]["rejected"].values()) == len(rejected)
    for row in train:
        assert row["messages"][0]["role"] == "user" and row["messages"][1]["content"] == row["output"]
        meta = row["meta"]
        assert meta["demos"]["seed_ids"] and meta["teacher"] == {
            "model": "scripted",
            "revision": "v1",
            "endpoint": "scripted",
        }
        assert meta["instruction_request"]["template"]["name"] == "new_instructions"
        assert meta["response_request"]["sampling"]["max_tokens"] == 512
        assert "rouge_l" in meta["filters"] and "most_similar" in meta["filters"]["rouge_l"]
    for row in rejected:
        assert row["stage"] and row["reason"]
    assert len({r["id"] for r in train + rejected}) == len(train) + len(rejected)
    assert yaml.safe_load((out / "config.yaml").read_text())["generation"]["num"] == 20
    assert stats["teacher"]["stages"]["instructions"]["requests"] >= 4
    assert stats["run"]["seed_sha256"] and not teacher.closed  # caller-owned teachers stay open


def test_generate_is_deterministic(tmp_path):
    generate(small_config(), GENERAL_SEEDS, tmp_path / "a", teacher=ScriptedTeacher())
    generate(small_config(), GENERAL_SEEDS, tmp_path / "b", teacher=ScriptedTeacher())
    for name in ("train.jsonl", "rejected.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_machine_demos_come_from_instructions_accepted_from_earlier_prompts(tmp_path):
    cfg = small_config(num=40, overgenerate=1.0, prompts_per_round=8)
    generate(cfg, GENERAL_SEEDS, tmp_path / "run", teacher=ScriptedTeacher())
    rows = [r for name in ("train.jsonl", "rejected.jsonl") for r in read(tmp_path / "run" / name)]
    window = cfg.generation.prompts_per_round
    sent = {r["id"]: r["meta"]["round"] * window + r["meta"]["prompt"] for r in rows if "prompt" in r["meta"]}
    accepted = {r["id"] for r in rows if "response_request" in r["meta"]}  # passed instruction screening
    with_machine = [r for r in rows if r["meta"].get("demos", {}).get("machine_ids")]
    assert with_machine and all(not r["meta"]["demos"]["machine_ids"] for r in rows if sent.get(r["id"]) == 0)
    for row in with_machine:
        for demo in row["meta"]["demos"]["machine_ids"]:
            assert demo in accepted and sent[demo] < sent[row["id"]]


def test_one_barren_prompt_does_not_send_a_whole_window():
    from generator.selfinstruct import _Counts

    # 300 rows wanted at 2.5 a prompt: the first fill is 120 prompts. If the first screened gave
    # nothing, the measured rate alone (0) would send the whole window; weighted with the prior,
    # the other 119 are still expected to bring most of the target.
    counts = _Counts(prior=2.5, screened=1, accepted=0)
    assert 0.8 * 300 < counts.expected(119) < 300
    # measured rates take over as evidence grows: 200 prompts at 1 row each expect ~200 more rows
    grown = _Counts(prior=2.5, screened=200, accepted=200, taken=200, passed=180, kept=180)
    assert 180 + 0.9 * 100 < grown.expected(100) < 180 + 100


def test_failures_become_rejected_rows_and_accounting_holds(tmp_path):
    def faults(request: ChatRequest) -> Completion | None:
        if schema_title(request) == "Response" and request.seed is not None and request.seed % 5 == 0:
            return Completion(text='{"output": "trunc', finish_reason="length")
        if schema_title(request) == "NewInstructions" and request.seed is not None and request.seed % 4 == 0:
            return Completion(text="garbage", finish_reason="stop")
        return None

    summary = generate(small_config(max_attempts=1), GENERAL_SEEDS, tmp_path / "run", teacher=ScriptedTeacher(faults))
    rejected = read(tmp_path / "run" / "rejected.jsonl")
    validation = [r for r in rejected if r["stage"] == "validation"]
    assert {r["reason"] for r in validation} == {"truncated", "invalid_json"}
    assert all(r["detail"]["raw"] for r in validation)
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"]


def test_bad_seed_file_writes_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "instruction": "ok"}\n{oops\n')
    with pytest.raises(SeedFileError, match=":2:"):
        generate(small_config(), bad, tmp_path / "run", teacher=ScriptedTeacher())
    assert not (tmp_path / "run").exists()


def test_accounting_violations_are_errors():
    a = Record(id="a")
    with pytest.raises(AccountingError, match="more than once"):
        check_accounting([a, a], 2, 0)
    with pytest.raises(AccountingError, match="written rows"):
        check_accounting([a, Record(id="b").reject("s", "r")], 2, 0)
    assert check_accounting([a, Record(id="b").reject("s", "r")], 1, 1)["rejected"] == {"s": {"r": 1}}


def test_skip_bad_lines_uses_the_valid_seeds_and_records_the_rest(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    good = GENERAL_SEEDS.read_bytes().splitlines()
    seeds.write_bytes(b"\n".join([*good[:5], b"{broken", "Caf\u00e9".encode("latin-1"), *good[5:10]]) + b"\n")
    with pytest.raises(SeedFileError):
        generate(small_config(), seeds, tmp_path / "strict", teacher=ScriptedTeacher())
    assert not (tmp_path / "strict").exists()
    cfg = load_config(
        overrides={"generation": {"num": 5, "min_prompts_per_round": 2}, "seeds": {"skip_bad_lines": True}}
    )
    summary = generate(cfg, seeds, tmp_path / "lenient", teacher=ScriptedTeacher())
    skipped = summary.stats["run"]["skipped_seed_lines"]
    assert summary.stats["run"]["seeds"] == 10 and len(skipped) == 2
    assert skipped[0].startswith(f"{seeds}:6:") and skipped[1].startswith(f"{seeds}:7:")
