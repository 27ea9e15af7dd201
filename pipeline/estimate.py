"""`estimate`: prompts, tokens, wall time and cost of a run before paying for it.

A short calibration batch runs the real first round — the same prompts a run would send first,
through the same filters — on the configured teacher. Its per-request token counts, yields and
throughput then drive a model of the Self-Instruct stream (its first fill at the configured
prior, minimum batch, limits), so the estimate follows the algorithm rather than a straight line.

A few calibration prompts cannot pin a run's tokens down: completion lengths are heavy-tailed (one
instruction that runs to `max_tokens` doubles a small batch) and a prompt's yield is lumpy (many
give nothing, a few give five), so the total comes with a 95% interval from a two-level Bayesian
bootstrap — reweigh the calibration (what it could have measured), then draw the run's requests
from that reweighing (what the run itself will draw). The run's first prompts *are* the
calibration's (same demos, keys and seeds), so the point plan takes their yields as measured; the
interval draws their yields and tokens like the rest, because the run decodes them in another
batch and a different batch can change a text on vLLM.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from conf.config import SeedforgeConfig
from generator.calls import Call
from generator.gateway import Gateway
from generator.seeds import read_seeds
from generator.selfinstruct import INSTRUCTION_STAGE, RESPONSE_STAGE, SelfInstruct
from generator.teachers.base import ChatRequest, Completion, Teacher
from generator.teachers.registry import build_teacher
from pipeline.filtering import GatewayJudge, build_chains, needs_judge
from pipeline.instruct import seed_records


def _per(total: float, n: float) -> float:
    return total / n if n else 0.0


class _Recorder:
    """A journal that remembers nothing for reuse: it keeps each attempt's tokens and the
    template it was rendered from, which the bootstrap resamples."""

    def __init__(self) -> None:
        self.spec_of: dict[str, str] = {}
        self.tokens: dict[str, list[int]] = {}

    def get(self, request_id: str) -> Completion | None:
        return None

    def put_many(self, items: Sequence[tuple[str, Completion]]) -> None:
        for request_id, completion in items:
            spec = self.spec_of.get(request_id, "")
            self.tokens.setdefault(spec, []).append(completion.prompt_tokens + completion.completion_tokens)

    def sync(self) -> None:
        pass


class _RecordingGateway(Gateway):
    def request_for(self, call: Call, attempt: int) -> ChatRequest:
        request = super().request_for(call, attempt)
        assert isinstance(self.journal, _Recorder)
        self.journal.spec_of[self.request_id(request)] = call.spec.name
        return request


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
    recorder = _Recorder()
    gateway = _RecordingGateway(
        teacher, base_seed=calibration.seed, max_attempts=calibration.max_attempts, journal=recorder
    )
    judge = GatewayJudge() if needs_judge(config.filters) else None
    chains = build_chains(config.filters, seed_records(seeds), judge)
    if judge is not None:
        judge.gateway = gateway
    started = time.perf_counter()
    runner = SelfInstruct(calibration, gateway, chains.instruction, chains.response)
    result = runner.run(seeds.tasks)
    instr = gateway.stats[INSTRUCTION_STAGE]
    resp = gateway.stats.get(RESPONSE_STAGE)
    records = result.records
    candidates = [r for r in records if "instruction_request" in r.meta]
    responded = [r for r in candidates if "response_request" in r.meta]
    kept = [r for r in records if not r.rejected]
    # In prompt order (a run sends these very prompts first), prompts that gave nothing included.
    answered, survived = [0] * instr.requests, [0] * instr.requests
    for record in responded:
        answered[record.meta["prompt"]] += 1
        survived[record.meta["prompt"]] += not record.rejected
    samples = {
        "answered_per_prompt": answered,
        "kept_per_prompt": survived,
        "instruction_attempt_tokens": recorder.tokens.get(runner.instruction_spec.name, []),
        "response_attempt_tokens": recorder.tokens.get(runner.response_spec.name, []),
        "instruction_attempts_per_request": _per(instr.attempts, instr.requests),
        "response_attempts_per_request": _per(resp.attempts, resp.requests) if resp else 1.0,
    }
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
        "samples": samples,
    }


def simulate(
    config: SeedforgeConfig,
    num: int,
    cal: dict[str, Any],
    known: tuple[Sequence[float], Sequence[float]] = ((), ()),
) -> dict[str, Any]:
    """Expected prompts, responses and rounds of the bootstrap stream for `num` kept rows.

    The stream (SelfInstruct._stream) sends prompts while the rows it expects fall short of the
    target: before anything is screened at the configured prior (instructions_per_prompt /
    overgenerate a prompt; at least min_prompts_per_round, at most a window), then at the rates
    it measures, which in expectation are the calibration's. `known`: answered and kept counts of
    the run's first prompts, measured (the calibration's own)."""
    gen = config.generation
    answered_rate = cal["instruction"]["candidates"] * cal["instruction"]["pass_rate"]
    yield_rate = answered_rate * cal["response"]["pass_rate"]
    limit = gen.max_rounds * gen.prompts_per_round
    prior = gen.instructions_per_prompt / gen.overgenerate
    first = min(gen.prompts_per_round, limit, max(gen.min_prompts_per_round, math.ceil(round(num / prior, 9))))
    answered, kept = list(known[0]), list(known[1])
    if sum(kept) >= num:  # the measured prompts alone reach the target
        prompts = next(i + 1 for i in range(len(kept)) if sum(kept[: i + 1]) >= num)
    elif yield_rate > 0:
        # Rounded: 300 rows at 2.5 a prompt must not come out 120.00000000000001 prompts.
        prompts = len(kept) + math.ceil(round((num - sum(kept)) / yield_rate, 9))
    else:
        prompts = limit
    prompts = min(limit, max(first, prompts))
    extra = max(0, prompts - len(kept))
    responses = sum(answered[:prompts]) + extra * answered_rate
    expected = sum(kept[:prompts]) + extra * yield_rate
    return {
        "rounds": -(-prompts // gen.prompts_per_round),
        "instruction_prompts": prompts,
        "responses": round(responses),
        "expected_kept": round(min(expected, num)),
    }


def _known(samples: dict[str, Any]) -> tuple[Sequence[float], Sequence[float]]:
    return samples.get("answered_per_prompt", []), samples.get("kept_per_prompt", [])


def token_forecast(
    config: SeedforgeConfig, num: int, samples: dict[str, Any], draws: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """A run's total tokens from a two-level Bayesian bootstrap over the calibration: the 95%
    interval, and the same split by how many rounds the run needs.

    The split is what keeps a forecast readable near a round boundary: when the first round may
    fall a row short, a whole second round follows, and an honest 95% interval spans both."""
    rng = np.random.default_rng(seed)
    answered = np.asarray(samples["answered_per_prompt"], dtype=float)
    kept = np.asarray(samples["kept_per_prompt"], dtype=float)
    t_instr = np.asarray(samples["instruction_attempt_tokens"], dtype=float)
    t_resp = np.asarray(samples["response_attempt_tokens"], dtype=float)
    if not len(answered) or not len(t_instr):
        return {"interval_95": [0, 0], "by_rounds": []}

    def weights(n: int) -> np.ndarray:
        # Dirichlet(1, ..., 1) weights (Rubin's Bayesian bootstrap): unlike resampling with
        # replacement, a small sample is never collapsed onto its few zero-yield prompts.
        return rng.dirichlet(np.ones(n))

    totals, rounds = np.empty(draws), np.empty(draws, dtype=int)
    for b in range(draws):
        w = weights(len(answered))  # one weight per prompt: its answers and kept rows go together
        # Rounded: the weights sum to 1 only up to float error, and how the dot product sums
        # depends on the CPU's vector unit; 2.9999999999999996 rows a prompt must not buy a round.
        per_prompt = round(float(w @ answered), 9)
        pass_rate = round(float(w @ kept) / per_prompt, 9) if per_prompt else 0.0
        cal = {"instruction": {"candidates": per_prompt, "pass_rate": 1.0}, "response": {"pass_rate": pass_rate}}
        # The calibration's own prompts are drawn too, not taken as measured: the run decodes them
        # beside other requests and vLLM is not batch-invariant, so their texts and counts differ
        # (a 12-prompt run answered 20 instructions where its first 8 had answered 11 alone).
        plan = simulate(config, num, cal)
        n_instr = round(plan["instruction_prompts"] * samples["instruction_attempts_per_request"])
        n_resp = round(plan["responses"] * samples["response_attempts_per_request"])
        total = rng.choice(t_instr, n_instr, p=weights(len(t_instr))).sum()
        if len(t_resp) and n_resp:
            total += rng.choice(t_resp, n_resp, p=weights(len(t_resp))).sum()
        totals[b], rounds[b] = total, plan["rounds"]

    def interval(values: np.ndarray) -> list[int]:
        low, high = np.percentile(values, [2.5, 97.5])
        return [int(low), int(high)]

    by_rounds = []
    for r in np.unique(rounds):
        share = round(float(np.mean(rounds == r)), 3)
        by_rounds.append({"rounds": int(r), "probability": share, "interval_95": interval(totals[rounds == r])})
    return {"interval_95": interval(totals), "by_rounds": by_rounds}


def token_interval(
    config: SeedforgeConfig, num: int, samples: dict[str, Any], draws: int = 2000, seed: int = 0
) -> tuple[int, int]:
    """95% interval of a run's total tokens."""
    low, high = token_forecast(config, num, samples, draws, seed)["interval_95"]
    return low, high


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
    teacher = teacher or build_teacher(config.teacher.for_run(num))  # the engine the run would start
    try:
        cal = calibrate(config, seeds_path, teacher, calibration_prompts)
    finally:
        if own:
            teacher.close()
    plan = simulate(config, num, cal, _known(cal["samples"]))
    forecast = token_forecast(config, num, cal["samples"])
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
            "total_interval_95": forecast["interval_95"],
            "by_rounds": forecast["by_rounds"],
        },
        "wall_seconds": round(seconds, 1),
        "teacher": {"model": teacher.model_name, "revision": teacher.revision, "endpoint": teacher.endpoint},
    }
    if gpu_hour_price is not None:
        result["cost"] = {"gpu_hour_price": gpu_hour_price, "total": round(seconds / 3600 * gpu_hour_price, 4)}
    return result
