"""`generate`: seeds → teacher → validated, filtered dataset in a crash-safe run directory.

This is where the packages meet: generator reads seeds and talks to the teacher, filters screen
records, and this module wires the filter chains into the strategy: Self-Instruct, then the modes
(modes.py). The run itself (teacher, journal, progress, publish) is the skeleton's (skeleton.py).
Re-running on the same run dir resumes: every stage is recomputed, and the journal answers every
request it has seen.
"""

from __future__ import annotations

import time
from pathlib import Path

from conf.config import SeedforgeConfig
from generator.seeds import SeedSet, read_seeds
from generator.selfinstruct import SelfInstruct
from generator.teachers.base import Teacher
from pipeline.filtering import GatewayJudge, build_chains, needs_judge, screen_post
from pipeline.modes import elimination_chain, run_before_post, run_multi_turn
from pipeline.runs import RunSummary
from pipeline.skeleton import Outcome, RunContext, TeacherPlan, execute
from prompts import Record

__all__ = ["InstructRun", "RunSummary", "generate", "seed_records"]


def seed_records(seeds: SeedSet) -> list[Record]:
    """Seeds as records, so dedup filters compare new rows against the human-written tasks too."""
    return [Record(id=t.id, instruction=t.instruction, input=t.first_input) for t in seeds.tasks]


def teacher_plan(config: SeedforgeConfig, token_budget: bool = True) -> TeacherPlan:
    gen = config.generation
    budget = gen.max_tokens_budget if token_budget else None
    return TeacherPlan(config.teacher, config.executor, gen.seed, gen.max_attempts, budget, rows=gen.num)


class InstructRun:
    """Self-Instruct from seed tasks, then Evol-Instruct, augmentation, the post chain, multi-turn."""

    needs_teacher = True

    def __init__(self, config: SeedforgeConfig, seeds_path: str | Path):
        self.config = config
        self.seeds = read_seeds(seeds_path, config.seeds)
        self.judge = GatewayJudge() if needs_judge(config.filters) else None
        self.chains = build_chains(config.filters, seed_records(self.seeds), self.judge)
        self.elimination = elimination_chain(config)

    @property
    def target(self) -> int:
        return self.config.generation.num

    def run(self, ctx: RunContext) -> Outcome:
        config, chains, seeds = self.config, self.chains, self.seeds
        gateway = ctx.teacher_gateway()
        if self.judge is not None:
            self.judge.gateway = gateway
        strategy = SelfInstruct(
            config.generation,
            gateway,
            ctx.screen(chains.instruction),
            ctx.screen(chains.response),
            ctx.on_round,
            would_keep=chains.instruction.would_keep,
        )
        t_gen = time.perf_counter()
        result = strategy.run(seeds.tasks)
        ctx.rounds_done()
        records, modes = run_before_post(config, gateway, chains, ctx.screen, self.elimination, seeds, result.records)
        records = screen_post(chains.post, records)
        records, multi_turn = run_multi_turn(config, gateway, records)
        stats = {
            "run": {
                "seed_file": seeds.path,
                "seed_format": seeds.format,
                "seed_sha256": seeds.sha256,
                "seeds": len(seeds.tasks),
                "skipped_seed_lines": [str(e) for e in seeds.skipped],
                "target": result.target,
                "rounds": result.rounds,
                "target_met": result.kept >= result.target,
                "stopped": result.stopped,
            },
            "wall_seconds": {"generation": round(time.perf_counter() - t_gen, 3), **chains.seconds},
        }
        if modes or multi_turn:
            stats["modes"] = {**modes, **multi_turn}
        return Outcome(records, config.resolved(), stats)


def generate(
    config: SeedforgeConfig,
    seeds_path: str | Path,
    out_dir: str | Path,
    teacher: Teacher | None = None,
    progress: bool = False,
    resume: bool = True,
) -> RunSummary:
    run = InstructRun(config, seeds_path)  # fails before the engine starts or files appear
    return execute(run, out_dir, teacher_plan(config), teacher=teacher, bar=progress, resume=resume)
