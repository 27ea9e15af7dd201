"""`estimate` with the scripted teacher: the calibration samples it keeps and the token interval."""

from __future__ import annotations

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
    assert sum(samples["answered_per_prompt"]) == len(samples["response_kept"])
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


def test_a_heavy_tail_widens_the_interval_and_constant_lengths_shrink_it():
    base = {
        "answered_per_prompt": [2, 3, 2, 3],
        "response_kept": [1] * 10,
        "instruction_attempts_per_request": 1.0,
        "response_attempts_per_request": 1.0,
        "response_attempt_tokens": [200] * 10,
    }
    steady = token_interval(config(), 24, {**base, "instruction_attempt_tokens": [500, 500, 500, 500]})
    tailed = token_interval(config(), 24, {**base, "instruction_attempt_tokens": [300, 300, 300, 1100]})
    assert steady[1] - steady[0] < tailed[1] - tailed[0]
    constant = {**base, "answered_per_prompt": [3, 3, 3, 3], "instruction_attempt_tokens": [500] * 4}
    assert token_interval(config(), 24, constant)[0] == token_interval(config(), 24, constant)[1]
