"""`estimate`: prompts, tokens, wall time and cost of a run before paying for it.

A short calibration batch runs the real first round — the same prompts a run would send first,
through the same filters — on the configured teacher. Its per-request token counts, yields and
throughput then drive a simulation of the Self-Instruct loop (rounds, minimum batch, overshoot),
so the estimate follows the algorithm rather than a straight line.
"""

from __future__ import annotations

import math
import time
from typing import Any

from conf.config import SeedforgeConfig
from generator.gateway import Gateway
from generator.seeds import read_seeds
from generator.selfinstruct import INSTRUCTION_STAGE, RESPONSE_STAGE, SelfInstruct
from generator.teachers.base import Teacher
from generator.teachers.registry import build_teacher
from pipeline.filtering import GatewayJudge, build_chains, needs_judge
from pipeline.instruct import seed_records


def _per(total: float, n: float) -> float:
    return total / n if n else 0.0


def calibrate(config: SeedforgeConfig, seeds_path: str, teacher: Teacher, prompts: int) -> dict[str, Any]:
    """Run round 0 with `prompts` instruction prompts and measure what a run would see."""
    seeds = read_seeds(seeds_path, config.seeds)
    calibration = config.generation.model_copy(
        update={
            "max_rounds": 1,
            "min_prompts_per_round": prompts,
            "prompts_per_round": prompts,
            "num": 10**9,
            "max_tokens_budget": None,
        }
    )
    gateway = Gateway(teacher, base_seed=calibration.seed, max_attempts=calibration.max_attempts)
    judge = GatewayJudge() if needs_judge(config.filters) else None
    chains = build_chains(config.filters, seed_records(seeds), judge)
    if judge is not None:
        judge.gateway = gateway
    started = time.perf_counter()
    result = SelfInstruct(calibration, gateway, chains.instruction, chains.response).run(seeds.tasks)
    instr = gateway.stats[INSTRUCTION_STAGE]
    resp = gateway.stats.get(RESPONSE_STAGE)
    records = result.records
    candidates = [r for r in records if "instruction_request" in r.meta]
    responded = [r for r in candidates if "response_request" in r.meta]
    kept = [r for r in records if not r.rejected]
    return {
        "prompts": prompts,
        "seconds": round(time.perf_counter() - started, 3),
        "startup_seconds": round(float(getattr(teacher, "startup_seconds", 0.0)), 3),
        "instruction": {
            "prompt_tokens": _per(instr.prompt_tokens, instr.requests),
            "completion_tokens": _per(instr.completion_tokens, instr.requests),
            "candidates": _per(len(candidates), instr.requests),
            "pass_rate": _per(len(responded), len(candidates)),
            "tokens_per_second": _per(instr.completion_tokens, instr.teacher_seconds),
        },
        "response": {
            "prompt_tokens": _per(resp.prompt_tokens, resp.requests) if resp else 0.0,
            "completion_tokens": _per(resp.completion_tokens, resp.requests) if resp else 0.0,
            "pass_rate": _per(len(kept), len(responded)),
            "tokens_per_second": _per(resp.completion_tokens, resp.teacher_seconds) if resp else 0.0,
        },
    }


def simulate(config: SeedforgeConfig, num: int, cal: dict[str, Any]) -> dict[str, Any]:
    """Expected prompts, responses and rounds of the bootstrap loop for `num` kept rows."""
    gen = config.generation
    per_prompt_answered = cal["instruction"]["candidates"] * cal["instruction"]["pass_rate"]
    yield_per_prompt = per_prompt_answered * cal["response"]["pass_rate"]
    kept = prompts = responses = 0.0
    rounds = 0
    while kept < num and rounds < gen.max_rounds:
        # The same batch rule as SelfInstruct.run: overgenerate for what is missing, within bounds.
        wanted = math.ceil((num - kept) * gen.overgenerate / gen.instructions_per_prompt)
        batch = max(gen.min_prompts_per_round, min(gen.prompts_per_round, wanted))
        prompts += batch
        responses += batch * per_prompt_answered
        kept += batch * yield_per_prompt
        rounds += 1
    return {
        "rounds": rounds,
        "instruction_prompts": round(prompts),
        "responses": round(responses),
        "expected_kept": round(min(kept, num)),
    }


def estimate(
    config: SeedforgeConfig,
    seeds_path: str,
    num: int,
    *,
    teacher: Teacher | None = None,
    calibration_prompts: int = 8,
    gpu_hour_price: float | None = None,
) -> dict[str, Any]:
    own = teacher is None
    teacher = teacher or build_teacher(config.teacher)
    try:
        cal = calibrate(config, seeds_path, teacher, calibration_prompts)
    finally:
        if own:
            teacher.close()
    plan = simulate(config, num, cal)
    ins, res = cal["instruction"], cal["response"]
    tokens_in = plan["instruction_prompts"] * ins["prompt_tokens"] + plan["responses"] * res["prompt_tokens"]
    out_instr = plan["instruction_prompts"] * ins["completion_tokens"]
    out_resp = plan["responses"] * res["completion_tokens"]
    # Throughput measured on a calibration-sized batch; a run's larger batches are usually faster,
    # so this wall time errs on the long side.
    seconds = _per(out_instr, ins["tokens_per_second"]) + _per(out_resp, res["tokens_per_second"])
    seconds += cal["startup_seconds"]
    result = {
        "target": num,
        "calibration": cal,
        "plan": plan,
        "tokens": {
            "in": round(tokens_in),
            "out": round(out_instr + out_resp),
            "total": round(tokens_in + out_instr + out_resp),
        },
        "wall_seconds": round(seconds, 1),
        "teacher": {"model": teacher.model_name, "revision": teacher.revision, "endpoint": teacher.endpoint},
    }
    if gpu_hour_price is not None:
        result["cost"] = {"gpu_hour_price": gpu_hour_price, "total": round(seconds / 3600 * gpu_hour_price, 4)}
    return result
