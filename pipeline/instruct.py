"""`generate`: seeds → teacher → validated, filtered dataset in a crash-safe run directory.

This is where the packages meet: generator reads seeds and talks to the teacher, filters screen
records, and this module wires the filter chains into the strategy. Re-running on the same
run dir resumes: every stage is recomputed, and the journal answers every request it has seen.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from conf.config import SeedforgeConfig
from generator.seeds import SeedSet, read_seeds
from generator.selfinstruct import SelfInstruct
from generator.teachers.base import Teacher
from generator.teachers.registry import make_teacher
from pipeline.filtering import GatewayJudge, build_chains, needs_judge, screen_post
from pipeline.modes import elimination_chain, run_before_post, run_multi_turn
from pipeline.progress import ObservedGateway, RunProgress
from pipeline.runs import RunSummary, finish_run, teacher_stats
from prompts import Record
from rundir.session import open_run

__all__ = ["RunSummary", "generate", "seed_records"]


def seed_records(seeds: SeedSet) -> list[Record]:
    """Seeds as records, so dedup filters compare new rows against the human-written tasks too."""
    return [Record(id=t.id, instruction=t.instruction, input=t.first_input) for t in seeds.tasks]


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="kept rows", unit="row", file=sys.stderr, dynamic_ncols=True)


def generate(
    config: SeedforgeConfig,
    seeds_path: str | Path,
    out_dir: str | Path,
    teacher: Teacher | None = None,
    progress: bool = False,
    resume: bool = True,
) -> RunSummary:
    seeds = read_seeds(seeds_path, config.seeds)  # fails before the engine starts or files appear
    judge = GatewayJudge() if needs_judge(config.filters) else None
    chains = build_chains(config.filters, seed_records(seeds), judge)  # so does a bad filter config
    elimination = elimination_chain(config)
    own_teacher = teacher is None
    teacher = teacher or make_teacher(config.teacher, config.executor)  # local: the engine starts lazily
    try:
        with open_run(out_dir, resume) as run:
            live = RunProgress(run.out_dir, config.generation.num)
            gateway = ObservedGateway(
                live,
                teacher,
                base_seed=config.generation.seed,
                max_attempts=config.generation.max_attempts,
                journal=run.journal,
                token_budget=config.generation.max_tokens_budget,
            )
            if judge is not None:
                judge.gateway = gateway
            bar = _progress(config.generation.num, progress)

            def on_round(kept: int, target: int) -> None:
                live.on_round(kept, target)
                if bar is not None:
                    bar.update(min(kept, target) - bar.n)

            strategy = SelfInstruct(
                config.generation, gateway, live.screen(chains.instruction), live.screen(chains.response), on_round
            )
            t_gen = time.perf_counter()
            result = strategy.run(seeds.tasks)
            if bar is not None:
                bar.close()
            records, modes = run_before_post(config, gateway, chains, live.screen, elimination, seeds, result.records)
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
                "teacher": teacher_stats(gateway, teacher),
                "wall_seconds": {"generation": round(time.perf_counter() - t_gen, 3), **chains.seconds},
            }
            if modes or multi_turn:
                stats["modes"] = {**modes, **multi_turn}
            live.set(stage="publishing")
            summary = finish_run(run, records, config.resolved(), stats)
            live.set(stage="done", funnel=summary.funnel, version=summary.manifest["version"])
            return summary
    finally:
        if own_teacher:
            teacher.close()
