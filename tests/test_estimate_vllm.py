"""`estimate` against the real engine: its token forecast must match a real run within 30%."""

from __future__ import annotations

import pytest

from conf.config import load_config
from pipeline.estimate import estimate
from pipeline.instruct import generate
from tests.conftest import GENERAL_SEEDS

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_estimate_matches_a_small_run_within_30_percent(vllm_teacher, tmp_path):
    config = load_config(overrides={"generation": {"num": 12, "min_prompts_per_round": 12, "prompts_per_round": 12}})
    forecast = estimate(config, str(GENERAL_SEEDS), 12, teacher=vllm_teacher, calibration_prompts=6, gpu_hour_price=2.5)
    summary = generate(config, GENERAL_SEEDS, tmp_path / "run", teacher=vllm_teacher)
    teacher = summary.stats["teacher"]
    actual = teacher["prompt_tokens"] + teacher["completion_tokens"]
    predicted = forecast["tokens"]["total"]
    assert abs(predicted - actual) / actual <= 0.30, (predicted, actual, forecast["plan"], summary.stats["run"])
    assert forecast["plan"]["instruction_prompts"] >= 8 and forecast["wall_seconds"] > 0
    # wall_seconds is rounded to 0.1 s and the cost to 4 decimals: 0.05 s at 2.5/h is 3.5e-5
    assert forecast["cost"]["total"] == pytest.approx(forecast["wall_seconds"] / 3600 * 2.5, abs=1e-4)
