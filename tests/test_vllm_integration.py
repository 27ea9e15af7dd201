"""The real thing: vLLM CPU engine with the embedded SmolLM2 model (one engine per session)."""

from __future__ import annotations

import json
import random
import subprocess

import pytest

from conf.config import load_config
from generator.gateway import Call, Gateway
from generator.seeds import read_seeds
from pipeline.instruct import generate
from prompts import get_spec
from prompts.schemas import NewInstructions
from tests.conftest import GENERAL_SEEDS, cli, cli_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_guided_json_round_trip_validates_into_the_schema(vllm_teacher):
    spec = get_spec("new_instructions")
    seeds = read_seeds(GENERAL_SEEDS).tasks
    rng = random.Random(1)
    calls = []
    for i in range(8):
        demos = [{"instruction": s.instruction, "input": s.first_input} for s in rng.sample(seeds, 4)]
        calls.append(
            Call(
                spec,
                spec.render(demos=demos, num=3),
                load_config().generation.instruction_sampling,
                key=f"rt{i}",
                json_schema=spec.json_schema_with({"instructions": 3}),
            )
        )
    gateway = Gateway(vllm_teacher, max_attempts=2)
    outcomes = gateway.run(calls, "instructions")
    ok = [o for o in outcomes if o.ok]
    assert len(ok) >= 6
    for outcome in ok:
        assert isinstance(outcome.parsed, NewInstructions)
        assert 1 <= len(outcome.parsed.instructions) <= 3
        NewInstructions.model_validate_json(outcome.text)  # the raw text itself is valid
    stats = gateway.stats["instructions"]
    assert stats.prompt_tokens > 0 and stats.completion_tokens > 0 and stats.teacher_seconds > 0


def test_generate_with_the_real_engine(vllm_teacher, tmp_path):
    cfg = load_config(overrides={"generation": {"num": 20, "min_prompts_per_round": 16}})
    summary = generate(cfg, GENERAL_SEEDS, tmp_path / "run", teacher=vllm_teacher)
    train = [json.loads(x) for x in (tmp_path / "run" / "train.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (tmp_path / "run" / "rejected.jsonl").read_text().splitlines()]
    assert len(train) >= 20
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"]
    assert summary.funnel["candidates"] == len(train) + len(rejected)
    instructions_spec, response_spec = get_spec("new_instructions"), get_spec("response")
    for row in train:
        assert row["instruction"].strip() and row["output"].strip()
        assert len(row["instruction"].split()) > 3
        assert row["messages"][1]["content"] == row["output"]
        meta = row["meta"]
        assert meta["teacher"]["model"] == "smollm2-135m-instruct"
        assert meta["teacher"]["revision"].startswith("gguf-sha256:")
        assert meta["instruction_request"]["template"]["hash"] == instructions_spec.template_hash
        assert meta["response_request"]["template"]["hash"] == response_spec.template_hash
        assert meta["demos"]["seed_ids"] and isinstance(meta["response_request"]["seed"], int)
        assert 0 <= meta["filters"]["rouge_l"]["score"] <= 0.7
    stats = summary.stats
    assert stats["teacher"]["completion_tokens"] > 0 and stats["teacher"]["tokens_per_second"] > 0


def test_cli_generate_end_to_end(tmp_path):
    config = tmp_path / "fast.yaml"
    config.write_text("teacher:\n  enforce_eager: true\ngeneration:\n  min_prompts_per_round: 4\n")
    out = tmp_path / "run"
    proc = subprocess.run(
        cli(
            "generate",
            "--seeds",
            str(GENERAL_SEEDS),
            "--num",
            "3",
            "--out",
            str(out),
            "--config",
            str(config),
            "--no-progress",
        ),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"run directory: {out}" in proc.stdout and "candidates" in proc.stdout
    for name in ("train.jsonl", "rejected.jsonl", "stats.json", "config.yaml"):
        assert (out / name).is_file()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["funnel"]["kept"] == len((out / "train.jsonl").read_text().splitlines())
