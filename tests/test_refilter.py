"""Post chain during generation, the LLM judge filter, and `seedforge filter` re-filtering runs."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from conf.config import load_config
from filters.judge import JudgeReply, LLMJudge
from pipeline.instruct import generate
from pipeline.refilter import refilter
from prompts import Record
from prompts.schemas import JudgeScores
from rundir import NotARunDirectory
from rundir.publish import verify
from tests.conftest import GENERAL_SEEDS, cli, cli_env
from tests.fakes import ScriptedTeacher, schema_title

JUDGE = {"name": "llm_judge", "params": {"threshold": 8.0}}


def config(post=(), **filters):
    return load_config(
        overrides={
            "generation": {"num": 16, "min_prompts_per_round": 4},
            "filters": {"post": list(post), **filters},
        }
    )


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_judge_filter_scores_batches_and_drops_below_threshold():
    seen: list[int] = []

    def judge(requests):
        seen.append(len(requests))
        replies = []
        for r in requests:
            low = "bad" in r.messages[-1]["content"]
            value = 3 if low else 9
            scores = JudgeScores(rationale="r", accuracy=value, relevance=value, clarity=value, usefulness=value)
            replies.append(JudgeReply(scores, request_id=f"id-{r.key}"))
        return replies

    flt = LLMJudge(threshold=6, judge=judge)
    records = [Record(id=str(i), instruction="Say hi.", output="bad" if i % 2 else "Hello!") for i in range(6)]
    flt.prepare(records)
    verdicts = [flt.check(r) for r in records]
    assert seen == [6]  # one batch, no per-row calls
    assert [v.reason for v in verdicts] == [None, "judge_below_threshold"] * 3
    assert verdicts[0].score == 9 and verdicts[0].detail["scores"]["clarity"] == 9
    assert verdicts[1].detail["rationale"] == "r" and verdicts[1].detail["request_id"] == "id-judge/1"


def test_judge_failures_are_rejected_or_kept_as_configured():
    def judge(requests):
        return [JudgeReply(None, failure="truncated", request_id="q") for _ in requests]

    record = Record(id="a", instruction="Say hi.", output="Hello")
    assert LLMJudge(judge=judge).check(record).reason == "judge_failed"
    kept = LLMJudge(judge=judge, on_failure="keep").check(record)
    assert kept.keep and kept.detail["failure"] == "truncated"


def test_generate_runs_the_post_chain_with_the_judge_through_the_gateway(tmp_path):
    teacher = ScriptedTeacher()
    summary = generate(config(post=["minhash_dedup", JUDGE]), GENERAL_SEEDS, tmp_path / "run", teacher=teacher)
    train, rejected = rows(tmp_path / "run" / "train.jsonl"), rows(tmp_path / "run" / "rejected.jsonl")
    judged = [r for r in train if "llm_judge" in r["meta"]["filters"]]
    assert judged and len(judged) == len(train)
    for row in train:
        entry = row["meta"]["filters"]["llm_judge"]
        assert entry["score"] >= 8.0 and set(entry["scores"]) == {"accuracy", "relevance", "clarity", "usefulness"}
    low = [r for r in rejected if r["reason"] == "judge_below_threshold"]
    assert all(r["stage"] == "post_filter" and r["meta"]["filters"]["llm_judge"]["score"] < 8 for r in low)
    judge_calls = [c for c in teacher.calls if schema_title(c) == "JudgeScores"]
    assert len(judge_calls) == len(train) + len(low)  # one request per row that reached the judge
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"]
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["teacher"]["stages"]["judge"]["requests"] == len(judge_calls)


def test_refilter_writes_a_new_version_without_generating(tmp_path):
    run_dir = tmp_path / "run"
    generate(config(), GENERAL_SEEDS, run_dir, teacher=ScriptedTeacher())
    before = rows(run_dir / "train.jsonl") + rows(run_dir / "rejected.jsonl")
    teacher = ScriptedTeacher()
    strict = config(post=[JUDGE], response=["empty_output", {"name": "length_ratio", "params": {"min_ratio": 2.0}}])
    summary = refilter(run_dir, strict, teacher=teacher)
    assert {schema_title(c) for c in teacher.calls} <= {"JudgeScores"}  # no generation calls
    assert summary.manifest["version"] == 2
    assert (run_dir / ".versions" / "00001" / "train.jsonl").is_file()  # the old version stays
    assert verify(run_dir) == []
    after = rows(run_dir / "train.jsonl") + rows(run_dir / "rejected.jsonl")
    assert sorted(r["id"] for r in after) == sorted(r["id"] for r in before)  # nothing lost, nothing added
    info = summary.stats["refilter"]
    assert len(after) == info["candidates"] + info["carried_rejected"] == info["rows_read"]
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"]
    assert summary.funnel["kept"] == info["kept"] == len(rows(run_dir / "train.jsonl"))
    reasons = {r["reason"] for r in rows(run_dir / "rejected.jsonl")}
    assert "response_too_short" in reasons
    assert all("previous" in r["meta"] for r in after if r.get("stage") != "validation")

    again = ScriptedTeacher()
    refilter(run_dir, strict, teacher=again)
    assert again.calls == []  # every judged row answered from the run's journal
    third, second = rows(run_dir / "train.jsonl"), rows(run_dir / ".versions" / "00002" / "train.jsonl")
    assert [without_previous(r) for r in third] == [without_previous(r) for r in second]
    # `previous` is the verdict of the version re-filtered: version 2 kept every row version 3 keeps.
    assert all(r["meta"]["previous"] == "kept" for r in third)


def without_previous(row: dict) -> dict:
    return {**row, "meta": {k: v for k, v in row["meta"].items() if k != "previous"}}


def test_refilter_with_the_runs_own_config_reproduces_the_kept_rows(tmp_path):
    run_dir = tmp_path / "run"
    generate(config(), GENERAL_SEEDS, run_dir, teacher=ScriptedTeacher())
    first = [r["id"] for r in rows(run_dir / "train.jsonl")]
    summary = refilter(run_dir)
    assert summary.stats["refilter"]["order"] == "generation"
    assert summary.stats["refilter"]["primed_with_seeds"]
    assert [r["id"] for r in rows(run_dir / "train.jsonl")] == first


def test_refilter_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(NotARunDirectory, match=r"not a run directory \(no published version"):
        refilter(tmp_path)
    with pytest.raises(NotARunDirectory, match="no such directory"):
        refilter(tmp_path / "missing")


def test_filter_cli_accounting_and_errors(tmp_path):
    run_dir = tmp_path / "run"
    generate(config(), GENERAL_SEEDS, run_dir, teacher=ScriptedTeacher())
    cfg = tmp_path / "filters.yaml"
    cfg.write_text(yaml.safe_dump({"filters": {"post": ["minhash_dedup", "refusal", "repetition"]}}))
    done = subprocess.run(
        cli("filter", str(run_dir), "--config", str(cfg)), env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "version 2" in done.stdout
    kept, rejected = rows(run_dir / "train.jsonl"), rows(run_dir / "rejected.jsonl")
    line = next(x for x in done.stdout.splitlines() if x.startswith("candidates"))
    assert f"kept {len(kept)}" in line and f"rejected {len(rejected)}" in line
    assert json.loads((run_dir / "stats.json").read_text())["refilter"]["source_version"] == 1
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["filters"]["post"][0]["name"] == "minhash_dedup"

    bad = tmp_path / "bad.yaml"
    bad.write_text("filters:\n  post:\n    - name: minhash_dedup\n      params: {treshold: 0.5}\n")
    done = subprocess.run(
        cli("filter", str(run_dir), "--config", str(bad)), env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "bad.yaml:3" in done.stderr and "treshold" in done.stderr
    missing = tmp_path / "contam.yaml"
    missing.write_text(
        yaml.safe_dump({"filters": {"post": [{"name": "decontaminate", "params": {"eval_files": ["nope.jsonl"]}}]}})
    )
    done = subprocess.run(
        cli("filter", str(run_dir), "--config", str(missing)), env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 2 and "filters.post.0 (decontaminate)" in done.stderr and "nope.jsonl" in done.stderr
    assert json.loads((run_dir / "current" / "manifest.json").read_text())["version"] == 2  # nothing published


@pytest.mark.vllm
@pytest.mark.slow
def test_judge_with_the_real_engine_returns_valid_rubric_scores(vllm_teacher, tmp_path):
    from generator.gateway import Gateway
    from pipeline.filtering import GatewayJudge
    from rundir.journal import Journal

    judge = GatewayJudge()
    judge.gateway = Gateway(vllm_teacher, base_seed=0, max_attempts=2, journal=Journal(tmp_path / "journal"))
    flt = LLMJudge(threshold=5, judge=judge, max_tokens=256)
    pairs = [
        ("Name the capital of France.", "The capital of France is Paris."),
        ("Give one tip for better sleep.", "Keep a regular bedtime, even at weekends."),
        ("Translate 'thank you' into Spanish.", "Gracias."),
        ("List two primary colours.", "Bananas are yellow because they are ripe."),
    ]
    records = [Record(id=f"p{i}", instruction=q, output=a) for i, (q, a) in enumerate(pairs)]
    flt.prepare(records)
    verdicts = [flt.check(r) for r in records]
    valid = [v for v in verdicts if v.detail.get("scores")]
    assert len(valid) >= 3  # guided JSON: a failure can only be a truncated reply
    for verdict in valid:
        assert all(1 <= s <= 10 for s in verdict.detail["scores"].values())
        assert 1 <= verdict.score <= 10 and verdict.detail["rationale"]
        assert verdict.keep is (verdict.score >= 5)
    for verdict in verdicts:
        if not verdict.detail.get("scores"):
            assert verdict.reason == "judge_failed" and verdict.detail["failure"] in (
                "truncated",
                "schema_error",
                "invalid_json",
            )
    stats = judge.gateway.stats["judge"]
    assert stats.requests >= len(records)
