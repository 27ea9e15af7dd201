"""`estimate` with the scripted teacher: the calibration samples it keeps and the token interval."""

from __future__ import annotations

import json

import pytest

import pipeline.estimate
from cli.report import estimate_lines
from conf.config import load_config
from pipeline.estimate import estimate, simulate, token_forecast, token_interval
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


def test_measured_first_prompts_decide_the_point_plan_but_the_interval_draws_them():
    samples = calibration([0, 0, 0, 6], [500] * 4, [200] * 6)
    cfg = load_config(overrides={"generation": {"num": 6, "min_prompts_per_round": 4, "prompts_per_round": 4}})
    # The run's 4 prompts are the 4 measured ones: the point plan keeps 6 in one round.
    plan = simulate(
        cfg,
        6,
        {"instruction": {"candidates": 1.5, "pass_rate": 1.0}, "response": {"pass_rate": 1.0}},
        (samples["answered_per_prompt"], samples["kept_per_prompt"]),
    )
    assert plan["rounds"] == 1 and plan["responses"] == 6
    # vLLM is not batch-invariant, so the run's answers to those prompts may differ: the interval
    # draws them, opens, and covers the measured outcome and a second round.
    forecast = token_forecast(cfg, 6, samples)
    low, high = forecast["interval_95"]
    assert low <= 4 * 500 + 6 * 200 < high
    assert {o["rounds"] for o in forecast["by_rounds"]} >= {1, 2}


def test_a_heavy_tail_widens_the_interval_and_constant_lengths_shrink_it():
    steady = token_interval(config(), 24, calibration([2, 3, 2, 3], [500, 500, 500, 500], [200] * 10))
    tailed = token_interval(config(), 24, calibration([2, 3, 2, 3], [300, 300, 300, 1100], [200] * 10))
    assert steady[1] - steady[0] < tailed[1] - tailed[0]
    constant = calibration([3, 3, 3, 3], [500] * 4, [200] * 10)
    assert token_interval(config(), 24, constant)[0] == token_interval(config(), 24, constant)[1]


def test_a_short_first_window_costs_the_prompts_it_needs_not_a_whole_round():
    # 6 prompts a window, 8 rows wanted, yields drawn from a lumpy sample: when the first 6 prompts
    # fall short, the stream sends the few more it needs (as screening shows the shortfall), not
    # another 6 as a round-based loop would; the forecast says so.
    samples = calibration([2, 1, 0, 3], [500] * 4, [200] * 6)
    cfg = load_config(overrides={"generation": {"num": 8, "min_prompts_per_round": 6, "prompts_per_round": 6}})
    forecast = token_forecast(cfg, 8, samples, draws=4000)
    outcomes = {o["rounds"]: o for o in forecast["by_rounds"]}
    assert sum(o["probability"] for o in outcomes.values()) == pytest.approx(1.0, abs=0.01)
    assert 0.05 < outcomes[1]["probability"] < 0.95 and outcomes[2]["probability"] > 0.05
    one, two = outcomes[1]["interval_95"], outcomes[2]["interval_95"]
    assert one[0] >= 6 * 500 + 6 * 200  # 6 prompts, at least 6 answers
    assert two[0] < 12 * 500 + 8 * 200  # a 7th prompt, not a second window of 6
    plan = simulate(cfg, 8, {"instruction": {"candidates": 1.0, "pass_rate": 1.0}, "response": {"pass_rate": 1.0}})
    assert plan["instruction_prompts"] == 8 and plan["rounds"] == 2  # 1 row a prompt: 8 prompts


def test_the_console_names_each_round_outcome_only_when_there_are_several():
    forecast = estimate(config(), str(GENERAL_SEEDS), 24, teacher=ScriptedTeacher(), gpu_hour_price=2.0)
    single = token_forecast(config(), 24, calibration([3, 3, 3, 3], [500] * 4, [200] * 10))
    forecast["tokens"].update(total_interval_95=single["interval_95"], by_rounds=single["by_rounds"])
    lines = estimate_lines(forecast, 8)
    assert len(single["by_rounds"]) == 1 and not any("by rounds" in line for line in lines)
    assert lines[0].startswith("estimate for 24 kept rows") and lines[-1].endswith("at 2.0 per GPU hour")
    cfg = load_config(overrides={"generation": {"num": 8, "min_prompts_per_round": 6, "prompts_per_round": 6}})
    split = token_forecast(cfg, 8, calibration([2, 1, 0, 3], [500] * 4, [200] * 6), draws=4000)
    forecast["tokens"].update(total_interval_95=split["interval_95"], by_rounds=split["by_rounds"])
    (line,) = [line for line in estimate_lines(forecast, 8) if "by rounds" in line]
    one, two = split["by_rounds"][:2]
    assert f"1 ({one['probability']:.0%}): {one['interval_95'][0]}-{one['interval_95'][1]}" in line
    assert f"2 ({two['probability']:.0%}): {two['interval_95'][0]}-{two['interval_95'][1]}" in line
