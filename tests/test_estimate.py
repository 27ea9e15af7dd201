"""`estimate` with the scripted teacher: the calibration samples it keeps and the token interval."""

from __future__ import annotations

import json

import pipeline.estimate
from conf.config import load_config
from pipeline.estimate import estimate, token_interval
from pipeline.instruct import generate
from tests.conftest import GENERAL_SEEDS
from tests.fakes import ScriptedTeacher


def config():
    return load_config(overrides={"generation": {"num": 24, "min_prompts_per_round": 8, "prompts_per_round": 8}})


def test_calibration_keeps_one_sample_per_prompt_and_per_attempt():
    forecast = estimate(config(), str(GENERAL_SEEDS), 24, teacher=ScriptedTeacher(), calibration_prompts=8)
    cal = forecast["calibration"]
    samples = cal["samples"]
    assert len(samples["answered_per_prompt"]) == 8
    # every answered candidate is counted once, under the prompt that wrote it
    assert len(samples["kept_per_prompt"]) == 8
    assert all(0 <= k <= a for a, k in zip(samples["answered_per_prompt"], samples["kept_per_prompt"], strict=True))
    assert sum(samples["answered_per_prompt"]) / 8 == cal["instruction"]["candidates"] * cal["instruction"]["pass_rate"]
    assert len(samples["instruction_attempt_tokens"]) == 8 * samples["instruction_attempts_per_request"]
    per_request = cal["instruction"]["prompt_tokens"] + cal["instruction"]["completion_tokens"]
    assert sum(samples["instruction_attempt_tokens"]) / 8 == per_request
    low, high = forecast["tokens"]["total_interval_95"]
    assert 0 < low <= forecast["tokens"]["total"] <= high


def test_the_interval_covers_the_scripted_run(tmp_path):
    forecast = estimate(config(), str(GENERAL_SEEDS), 24, teacher=ScriptedTeacher(), calibration_prompts=8)
    summary = generate(config(), GENERAL_SEEDS, tmp_path / "run", teacher=ScriptedTeacher())
    teacher = summary.stats["teacher"]
    low, high = forecast["tokens"]["total_interval_95"]
    assert low <= teacher["prompt_tokens"] + teacher["completion_tokens"] <= high


def test_the_calibration_asks_exactly_the_requests_a_run_sends_first(tmp_path, monkeypatch):
    """What lets the estimate take the first prompts' yields as measured."""
    recorders = []

    class Recorder(pipeline.estimate._Recorder):
        def __init__(self):
            super().__init__()
            recorders.append(self)

    monkeypatch.setattr(pipeline.estimate, "_Recorder", Recorder)
    estimate(config(), str(GENERAL_SEEDS), 24, teacher=ScriptedTeacher(), calibration_prompts=8)
    generate(config(), GENERAL_SEEDS, tmp_path / "run", teacher=ScriptedTeacher())
    asked = set(recorders[0].spec_of)
    journaled = {json.loads(line)["id"] for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()}
    assert len(asked) >= 8 + 1  # 8 instruction prompts and their responses
    assert asked <= journaled


def calibration(answered, instruction_tokens, response_tokens):
    """Calibration samples with every answered row kept and one attempt per request."""
    return {
        "answered_per_prompt": answered,
        "kept_per_prompt": answered,
        "instruction_attempts_per_request": 1.0,
        "response_attempts_per_request": 1.0,
        "instruction_attempt_tokens": instruction_tokens,
        "response_attempt_tokens": response_tokens,
    }


def test_measured_first_prompts_decide_the_first_round():
    samples = calibration([0, 0, 0, 6], [500] * 4, [200] * 6)
    cfg = load_config(overrides={"generation": {"num": 6, "min_prompts_per_round": 4, "prompts_per_round": 4}})
    # The run's 4 prompts are the 4 measured ones: 6 kept in one round, whatever a reweighing says.
    low, high = token_interval(cfg, 6, samples)
    assert low == high == 4 * 500 + 6 * 200
    # With 8 prompts per round, 4 are drawn: the interval opens, but never below the measured part.
    cfg8 = load_config(overrides={"generation": {"num": 6, "min_prompts_per_round": 8, "prompts_per_round": 8}})
    low8, high8 = token_interval(cfg8, 6, samples)
    assert 8 * 500 + 6 * 200 <= low8 < high8


def test_a_heavy_tail_widens_the_interval_and_constant_lengths_shrink_it():
    steady = token_interval(config(), 24, calibration([2, 3, 2, 3], [500, 500, 500, 500], [200] * 10))
    tailed = token_interval(config(), 24, calibration([2, 3, 2, 3], [300, 300, 300, 1100], [200] * 10))
    assert steady[1] - steady[0] < tailed[1] - tailed[0]
    constant = calibration([3, 3, 3, 3], [500] * 4, [200] * 10)
    assert token_interval(config(), 24, constant)[0] == token_interval(config(), 24, constant)[1]
