"""`estimate` against the real engine: a real run's tokens fall inside its forecast interval."""

from __future__ import annotations

import pytest

from conf.config import load_config
from pipeline.estimate import estimate
from pipeline.instruct import generate
from tests.conftest import GENERAL_SEEDS

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_a_small_run_falls_inside_the_forecast_interval(vllm_teacher, tmp_path):
    config = load_config(overrides={"generation": {"num": 12, "min_prompts_per_round": 12, "prompts_per_round": 12}})
    # The CLI's default calibration (8 prompts) for a 12-prompt run.
    forecast = estimate(config, str(GENERAL_SEEDS), 12, teacher=vllm_teacher, gpu_hour_price=2.5)
    summary = generate(config, GENERAL_SEEDS, tmp_path / "run", teacher=vllm_teacher)
    teacher = summary.stats["teacher"]
    actual = teacher["prompt_tokens"] + teacher["completion_tokens"]
    low, high = forecast["tokens"]["total_interval_95"]
    report = (low, forecast["tokens"]["total"], high, actual, forecast["plan"], forecast["calibration"]["samples"])
    assert low <= actual <= high, report
    # An interval that says nothing would pass the line above: it must be informative too. Near a
    # round boundary an honest 95% interval spans one round and two (a short first round costs a
    # whole second one), so informative means: the outcome for the rounds the run needed was
    # forecast, and its own interval covers the run and is narrow.
    outcomes = {o["rounds"]: o for o in forecast["tokens"]["by_rounds"]}
    rounds = summary.stats["run"]["rounds"]
    assert rounds in outcomes, (rounds, outcomes, report)
    one_low, one_high = outcomes[rounds]["interval_95"]
    assert one_low <= actual <= one_high and one_high <= 2 * one_low, (rounds, outcomes, report)
    assert high <= 2.5 * low or sum(o["probability"] >= 0.025 for o in outcomes.values()) > 1, (outcomes, report)
    assert forecast["plan"]["instruction_prompts"] >= 8 and forecast["wall_seconds"] > 0
    # wall_seconds is rounded to 0.1 s and the cost to 4 decimals: 0.05 s at 2.5/h is 3.5e-5
    assert forecast["cost"]["total"] == pytest.approx(forecast["wall_seconds"] / 3600 * 2.5, abs=1e-4)
